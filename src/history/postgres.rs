//! The history on a shared PostgreSQL server (`history_url = "postgres://…"` or
//! `$BAKEOFF_HISTORY_URL`), so CI runners, cron jobs on several boxes and laptops write to one
//! history. Same schema as the SQLite file, in its own PostgreSQL schema `bakeoff`.
//!
//! The connection (rust-postgres' synchronous client, which runs its own small tokio runtime)
//! lives on a thread of its own and the store hands it work over a channel: the store is called
//! from async code too, where that runtime could not start, and every call has a deadline, so a
//! server that stops answering is an error, never a hang.
//!
//! The password never comes from a config file or the command line: it is in
//! `$BAKEOFF_HISTORY_URL` or in `PGPASSWORD`, it is registered with the key redactor, and the
//! store's name ([`Target`]'s `Display`) leaves it out. TLS is rustls; `sslmode` has libpq's
//! meanings: `disable`, `prefer` (the default) and `require` encrypt when they can without
//! authenticating the server, `verify-ca` and `verify-full` check its certificate against the
//! system's roots and `sslrootcert` / `$PGSSLROOTCERT`.

use super::db::{Backend, Row, Value};
use anyhow::{Context, Result, anyhow, bail};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long one call (or one row of a query) may take before the server counts as gone.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The PostgreSQL schema the history's tables live in.
const SCHEMA: &str = "bakeoff";
/// The advisory lock migrations hold (any constant; "bakeoff" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6261_6b65_6f66;

/// `sslmode`, with libpq's meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where a PostgreSQL history is: the URL with its password taken out.
#[derive(Clone)]
pub struct Target {
    /// The URL without password, `sslmode` or `sslrootcert`.
    url: url::Url,
    password: Option<String>,
    ssl: SslMode,
    root_cert: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({self})")
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Whether `s` names a PostgreSQL history rather than a file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl Target {
    /// Reads a `postgres://` URL. `password_allowed`: whether it may hold the password (an
    /// environment variable may; a config file or a command line, which others can read, may not).
    pub fn parse(s: &str, password_allowed: bool) -> Result<Target> {
        let mut url = url::Url::parse(s.trim()).map_err(|e| anyhow!("the history URL does not read: {e}"))?;
        anyhow::ensure!(is_url(url.as_str()), "the history URL must start with postgres:// or postgresql://");
        let mut password = url.password().map(percent).transpose()?;
        if password.is_some() && !password_allowed {
            bail!(
                "the history URL holds a password: a config file or a command line is readable by others. \
                 Put the password in PGPASSWORD, or the whole URL in $BAKEOFF_HISTORY_URL"
            );
        }
        let _ = url.set_password(None);
        let mut ssl = SslMode::Prefer;
        let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(std::path::PathBuf::from);
        let mut kept = Vec::new();
        for (k, v) in url.query_pairs() {
            match &*k {
                "sslmode" => {
                    ssl = match &*v {
                        "disable" => SslMode::Disable,
                        "prefer" | "allow" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => bail!(
                            "the history URL's sslmode {other:?} is not one of disable, prefer, require, \
                             verify-ca, verify-full"
                        ),
                    }
                }
                "sslrootcert" => root_cert = Some(v.into_owned().into()),
                "password" if !password_allowed => bail!(
                    "the history URL holds a password: put it in PGPASSWORD, or the whole URL in \
                     $BAKEOFF_HISTORY_URL"
                ),
                "password" => password = Some(v.into_owned()),
                _ => kept.push((k.into_owned(), v.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(&kept);
        }
        if password.is_none() {
            password = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty());
        }
        if let Some(p) = &password {
            crate::redact::register(p);
        }
        Ok(Target { url, password, ssl, root_cert })
    }

    fn client_config(&self) -> Result<postgres::Config> {
        let mut config: postgres::Config =
            self.url.as_str().parse().map_err(|e| anyhow!("the history URL does not read: {e}"))?;
        if config.get_user().is_none() {
            // libpq's default: the user running the program.
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .context("the history URL names no user (postgres://USER@host/db)")?;
            config.user(&user);
        }
        if let Some(p) = &self.password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.ssl_mode(match self.ssl {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => postgres::config::SslMode::Require,
        });
        config.application_name("bakeoff");
        Ok(config)
    }

    fn tls(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS for the history")?;
        let config = match self.ssl {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if let Some(path) = &self.root_cert {
                    use rustls::pki_types::{CertificateDer, pem::PemObject};
                    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                        .and_then(|it| it.collect())
                        .map_err(|e| anyhow!("sslrootcert {}: {e}", path.display()))?;
                    roots.add_parsable_certificates(certs);
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            // libpq's prefer and require encrypt without authenticating the server.
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        };
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

fn percent(s: &str) -> Result<String> {
    Ok(percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .context("the history URL's password is not UTF-8 once decoded")?
        .into_owned())
}

/// `sslmode=prefer|require`: the handshake's signatures are checked, the certificate is not
/// (libpq's meaning of those modes; `verify-full` authenticates the server).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// A connection to a PostgreSQL history, served by a thread of its own.
pub struct Postgres {
    jobs: mpsc::Sender<Job>,
    /// A call missed its deadline: the connection is stuck, later calls fail at once.
    stuck: AtomicBool,
}

impl Postgres {
    pub fn connect(target: &Target) -> Result<Postgres> {
        let config = target.client_config()?;
        let tls = match target.ssl {
            SslMode::Disable => None,
            _ => Some(target.tls()?),
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel::<Result<()>>(1);
        let name = target.to_string();
        std::thread::Builder::new().name("history-postgres".into()).spawn(move || {
            let client = match tls {
                Some(tls) => config.connect(tls),
                None => config.connect(postgres::NoTls),
            };
            let mut client = match client {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(anyhow!("{}", describe(&e))));
                    return;
                }
            };
            if let Err(e) = client.batch_execute(&format!("SET search_path TO {SCHEMA}")) {
                let _ = ready.send(Err(anyhow!("{}", describe(&e))));
                return;
            }
            let _ = ready.send(Ok(()));
            for job in queue {
                job(&mut client);
            }
        })?;
        match connected.recv_timeout(CONNECT_TIMEOUT + Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Postgres { jobs, stuck: AtomicBool::new(false) }),
            Ok(Err(e)) => Err(e.context(format!("cannot connect to the history {name}"))),
            Err(_) => bail!("cannot connect to the history {name}: no answer in {} s", CONNECT_TIMEOUT.as_secs()),
        }
    }

    /// Runs `work` on the connection's thread and waits for it (up to the deadline).
    fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = mpsc::sync_channel(1);
        self.send(Box::new(move |c| {
            let _ = done.send(work(c));
        }))?;
        self.wait(&result)?
    }

    fn send(&self, job: Job) -> Result<()> {
        if self.stuck.load(Ordering::Relaxed) {
            bail!("the PostgreSQL history stopped answering earlier");
        }
        self.jobs.send(job).map_err(|_| anyhow!("the connection to the PostgreSQL history is closed"))
    }

    fn wait<T>(&self, rx: &mpsc::Receiver<T>) -> Result<T> {
        match rx.recv_timeout(DEADLINE) {
            Ok(v) => Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.stuck.store(true, Ordering::Relaxed);
                bail!("the PostgreSQL history did not answer in {} s", DEADLINE.as_secs())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the connection to the PostgreSQL history is closed"),
        }
    }
}

/// A server error with its detail (rust-postgres' `Display` says only "db error").
fn describe(e: &postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s = format!("{s}: {inner}");
                source = inner.source();
            }
            s
        }
    };
    crate::redact::redact_owned(text)
}

fn pg(e: postgres::Error) -> anyhow::Error {
    anyhow!("{}", describe(&e))
}

/// The store's SQL (SQLite's `?N` placeholders) with PostgreSQL's `$N`.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The schema's DDL, written with SQLite's types, in PostgreSQL's: 64-bit integers, doubles, an
/// identity column for `runs.id`.
pub(crate) fn ddl(sql: &str) -> String {
    use std::sync::LazyLock;
    static KEY: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"\bid INTEGER PRIMARY KEY\b").unwrap());
    static INT: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"\bINTEGER\b").unwrap());
    static REAL: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"\bREAL\b").unwrap());
    let sql = KEY.replace_all(sql, "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
    let sql = INT.replace_all(&sql, "BIGINT");
    REAL.replace_all(&sql, "DOUBLE PRECISION").into_owned()
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            // PostgreSQL's text cannot hold NUL; the entry itself (JSON) keeps the exact text.
            Value::Text(s) if s.contains('\0') => s.replace('\0', "\u{FFFD}").as_str().to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn row_of(row: &postgres::Row) -> Result<Row> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT2 => row.try_get::<_, Option<i16>>(i).map(|v| v.map(i64::from).into()),
            Type::INT4 => row.try_get::<_, Option<i32>>(i).map(|v| v.map(i64::from).into()),
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map(Value::from),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map(|v| v.map(f64::from).into()),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(Value::from),
            Type::BOOL => row.try_get::<_, Option<bool>>(i).map(Value::from),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                row.try_get::<_, Option<String>>(i).map(Value::from)
            }
            ref other => bail!("the history returned a column of type {other} the store does not read"),
        };
        out.push(v.map_err(pg)?);
    }
    Ok(Row(out))
}

fn owned(params: &[Value]) -> Vec<Value> {
    params.to_vec()
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Backend for Postgres {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = (placeholders(sql), owned(params));
        self.call(move |c| c.execute(&sql, &refs(&params)).map_err(pg))
    }

    fn insert(&self, sql: &str, params: &[Value]) -> Result<i64> {
        let (sql, params) = (placeholders(sql) + " RETURNING id", owned(params));
        self.call(move |c| c.query_one(&sql, &refs(&params)).and_then(|r| r.try_get(0)).map_err(pg))
    }

    fn query_each(&self, sql: &str, params: &[Value], each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let (sql, params) = (placeholders(sql), owned(params));
        // Rows come one at a time through a small buffer: a large export never sits in memory.
        let (tx, rows) = mpsc::sync_channel::<Result<Option<Row>>>(64);
        self.send(Box::new(move |c| {
            use postgres::fallible_iterator::FallibleIterator;
            let mut it = match c.query_raw(&sql, params.iter().map(|p| p as &dyn ToSql)) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.send(Err(pg(e)));
                    return;
                }
            };
            loop {
                let next = match it.next() {
                    Ok(Some(row)) => row_of(&row).map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(pg(e)),
                };
                let last = !matches!(next, Ok(Some(_)));
                // The reader stopped (its callback failed): the rest is not wanted.
                if tx.send(next).is_err() || last {
                    return;
                }
            }
        }))?;
        loop {
            match self.wait(&rows)? {
                Ok(Some(row)) => each(row)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        let sql = ddl(sql);
        self.call(move |c| c.batch_execute(&sql).map_err(pg))
    }

    fn begin(&self) -> Result<()> {
        self.call(|c| c.batch_execute("BEGIN").map_err(pg))
    }

    fn commit(&self) -> Result<()> {
        self.call(|c| c.batch_execute("COMMIT").map_err(pg))
    }

    fn rollback(&self) -> Result<()> {
        self.call(|c| c.batch_execute("ROLLBACK").map_err(pg))
    }

    fn lock_schema_version(&self) -> Result<i64> {
        self.call(|c| {
            // Held to the transaction's end: one process migrates, the others wait and find it done.
            c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(pg)?;
            c.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {SCHEMA}; \
                 CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version BIGINT NOT NULL)"
            ))
            .map_err(pg)?;
            let row = c.query_opt(&format!("SELECT version FROM {SCHEMA}.schema_version"), &[]).map_err(pg)?;
            row.map_or(Ok(0), |r| r.try_get(0).map_err(pg))
        })
    }

    fn set_schema_version(&self, version: i64) -> Result<()> {
        self.call(move |c| {
            c.execute(&format!("DELETE FROM {SCHEMA}.schema_version"), &[]).map_err(pg)?;
            c.execute(&format!("INSERT INTO {SCHEMA}.schema_version (version) VALUES ($1)"), &[&version])
                .map_err(pg)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_types_are_postgres_ones() {
        assert_eq!(placeholders("a = ?1 OR b LIKE '%/' || ?12"), "a = $1 OR b LIKE '%/' || $12");
        let sql = ddl("CREATE TABLE runs (\n id INTEGER PRIMARY KEY,\n pid INTEGER,\n t REAL\n);\n\
             CREATE TABLE l (run_id INTEGER PRIMARY KEY REFERENCES runs (id), ttft_ms REAL)");
        assert!(sql.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"), "{sql}");
        assert!(sql.contains("run_id BIGINT PRIMARY KEY REFERENCES"), "a key that refers is no identity: {sql}");
        assert!(sql.contains("pid BIGINT,") && sql.contains("ttft_ms DOUBLE PRECISION"), "{sql}");
    }

    #[test]
    fn a_password_is_never_in_the_name_and_never_from_a_file() {
        let t = Target::parse("postgres://ci:s3cr%40t@db.example:5433/bench?sslmode=require&application_name=x", true)
            .unwrap();
        assert_eq!(t.password.as_deref(), Some("s3cr@t"));
        assert_eq!(t.ssl, SslMode::Require);
        let shown = t.to_string();
        assert!(!shown.contains("s3cr") && !shown.contains("sslmode"), "{shown}");
        assert!(shown.starts_with("postgres://ci@db.example:5433/bench"), "{shown}");
        let err = Target::parse("postgres://ci:hunter2@db/bench", false).unwrap_err().to_string();
        assert!(err.contains("PGPASSWORD") && !err.contains("hunter2"), "{err}");
        let err = Target::parse("postgres://ci@db/bench?password=hunter2", false).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = Target::parse("postgres://ci@db/bench?sslmode=sometimes", false).unwrap_err().to_string();
        assert!(err.contains("verify-full"), "{err}");
        assert!(Target::parse("mysql://ci@db/bench", true).is_err());
    }
}

//! A throwaway PostgreSQL server for tests, started from the system's binaries (`initdb`,
//! `pg_ctl`; Debian's `postgresql` package, which `.ci/run` installs when missing) in a
//! temporary directory, on a loopback port, with password authentication (SCRAM), and stopped
//! when dropped. Used by the store's unit tests and, through `#[path]`, by `tests/`.
//!
//! PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (or
//! `nobody`) through `runuser`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running test server.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BAKEOFF_PG_BIN") {
        return Some(dir.into());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    if on_path.is_some() {
        return on_path;
    }
    // Debian keeps them out of PATH, one directory per major version: take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8(o.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl PgServer {
    /// Starts a server, or says plainly why it cannot and returns `None` (under CI, where
    /// `.ci/run` installs PostgreSQL, a missing server fails the test instead).
    pub fn start() -> Option<PgServer> {
        PgServer::start_with(false)
    }

    /// [`Self::start`] with TLS on: a test CA (`ca.pem`, see [`Self::ca`]) signs the server's
    /// certificate for `localhost`.
    pub fn start_with_tls() -> Option<PgServer> {
        PgServer::start_with(true)
    }

    fn start_with(tls: bool) -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            let why = "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): \
                       the PostgreSQL history tests did not run. Install Debian's `postgresql` (`.ci/run` does)";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let mut last = String::new();
        for _ in 0..3 {
            match PgServer::try_start(&bin, tls) {
                Ok(s) => return Some(s),
                Err(e) => last = e,
            }
        }
        panic!("cannot start a test PostgreSQL server from {}: {last}", bin.display());
    }

    fn try_start(bin: &Path, tls: bool) -> Result<PgServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let run_as = if rustix::process::geteuid().is_root() {
            let user = ["postgres", "nobody"].into_iter().find(|u| uid_gid(u).is_some()).ok_or("no user to run as")?;
            let (uid, gid) = uid_gid(user).ok_or("no uid")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            Some(user.to_string())
        } else {
            None
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let password = format!("pw-{nanos:x}-{}", std::process::id());
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
        if let Some(user) = &run_as {
            let (uid, gid) = uid_gid(user).ok_or("no uid")?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        // A port nothing listens on now (another process may take it first: then retry).
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let server = PgServer { dir, bin: bin.to_path_buf(), run_as, port, user: "bakeoff".into(), password };
        let data = server.dir.path().join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "bakeoff".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            server.dir.path().display()
        );
        if tls {
            server.make_certificates()?;
            let d = server.dir.path();
            options += &format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                d.join("server.pem").display(),
                d.join("server.key").display()
            );
        }
        let log = server.dir.path().join("server.log");
        let started = server.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        if let Err(e) = started {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{e}\n{log}"));
        }
        Ok(server)
    }

    /// Runs one of the server's programs (as the server's user when we are root), with a deadline.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{program} failed ({status}): {}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ))
                };
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("{program} did not finish in 60 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The test CA's certificate (TLS servers only).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA and a server certificate it signs for `localhost` (openssl, which Debian's
    /// postgresql brings along through ssl-cert).
    fn make_certificates(&self) -> Result<(), String> {
        let d = self.dir.path();
        let openssl = |args: &[&str]| -> Result<(), String> {
            let o = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("openssl: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)))
            }
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bakeoff test CA"],
            ]
            .concat(),
        )?;
        openssl(
            &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
        )?;
        std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").map_err(|e| e.to_string())?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ])?;
        let key = d.join("server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if let Some(user) = &self.run_as {
            let (uid, gid) = uid_gid(user).ok_or("no uid")?;
            for f in ["server.key", "server.pem"] {
                std::os::unix::fs::chown(d.join(f), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// A URL of database `db` on this server, password included.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{}:{}@127.0.0.1:{}/{db}?sslmode=disable", self.user, self.password, self.port)
    }

    /// The same URL without its password (give the password through `PGPASSWORD`).
    pub fn url_without_password(&self, db: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{db}?sslmode=disable", self.user, self.port)
    }

    /// Creates an empty database `name` (on a thread: the synchronous client runs its own
    /// runtime, which cannot start inside a test's).
    pub fn create_database(&self, name: &str) {
        let (url, sql) = (self.url("postgres"), format!("CREATE DATABASE {name}"));
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test server");
            c.batch_execute(&sql).expect("create a test database");
        })
        .join()
        .expect("the test server answers");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .run("pg_ctl", &["-D".as_ref(), data.as_os_str(), "-m".as_ref(), "immediate".as_ref(), "stop".as_ref()]);
    }
}

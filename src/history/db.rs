//! The SQL the history runs, over either of its databases: the embedded SQLite file or a shared
//! PostgreSQL server ([`super::postgres`]). The store writes one dialect — SQLite's `?N`
//! placeholders, standard `ON CONFLICT … DO UPDATE` upserts, SQLite's column types in its DDL —
//! and each backend turns it into what its server reads. Values cross as [`Value`]s, so the
//! store's code is the same for both.

use anyhow::{Context, Result, bail};

/// One SQL value, as the store binds and reads them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(v.into())
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<u8> for Value {
    fn from(v: u8) -> Value {
        Value::Int(v.into())
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        v.as_deref().into()
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// `vals![a, b, …]`: the parameters of one statement.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::history::db::Value::from($v)),*][..] };
}
pub(crate) use vals;

/// One result row.
#[derive(Clone, Debug, Default)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0.get(i).with_context(|| format!("the history returned no column {i}"))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => bail!("column {i}: expected an integer, found {other:?}"),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.with_context(|| format!("column {i}: expected an integer, found NULL"))
    }

    pub fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }

    pub fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Real(v) => Ok(Some(*v)),
            Value::Int(v) => Ok(Some(*v as f64)),
            other => bail!("column {i}: expected a number, found {other:?}"),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => bail!("column {i}: expected text, found {other:?}"),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.with_context(|| format!("column {i}: expected text, found NULL"))
    }
}

/// A connection the store runs its SQL on.
pub trait Backend: Send {
    /// Runs one statement; the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs one `INSERT` into a table with an `id` key; the new row's id.
    fn insert(&self, sql: &str, params: &[Value]) -> Result<i64>;
    /// Runs one query and hands its rows to `each` as they come (an error from `each` stops it).
    fn query_each(&self, sql: &str, params: &[Value], each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;
    /// Runs several statements without parameters (DDL).
    fn execute_batch(&self, sql: &str) -> Result<()>;
    /// Starts a write transaction, waiting for other writers as the backend does.
    fn begin(&self) -> Result<()>;
    fn commit(&self) -> Result<()>;
    fn rollback(&self) -> Result<()>;
    /// Inside a transaction: waits until no other process is migrating the schema, then reads the
    /// schema version (0: an empty database).
    fn lock_schema_version(&self) -> Result<i64>;
    /// Inside the same transaction: records the schema version.
    fn set_schema_version(&self, version: i64) -> Result<()>;
}

impl dyn Backend + '_ {
    /// All rows of a query.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |r| {
            rows.push(r);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        let mut first = None;
        self.query_each(sql, params, &mut |r| {
            if first.is_none() {
                first = Some(r);
            }
            Ok(())
        })?;
        Ok(first)
    }

    /// The one row a query must return.
    pub fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)?.context("the history returned no row")
    }

    /// Runs `work` in one write transaction: committed when it succeeds, rolled back when not.
    pub fn transaction<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.begin()?;
        match work() {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }
}

/// The embedded SQLite database.
pub struct Sqlite(rusqlite::Connection);

impl Sqlite {
    /// Opens (creating it) the database file at `path`.
    pub fn open(path: &std::path::Path, busy_timeout: std::time::Duration) -> Result<Sqlite> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        // WAL: readers never block the writer, and several processes append in turn.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Sqlite(conn))
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
        }))
    }
}

fn sqlite_row(row: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(columns);
    for i in 0..columns {
        out.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Real(v),
            ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        });
    }
    Ok(Row(out))
}

impl Backend for Sqlite {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        Ok(self.0.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn insert(&self, sql: &str, params: &[Value]) -> Result<i64> {
        self.execute(sql, params)?;
        Ok(self.0.last_insert_rowid())
    }

    fn query_each(&self, sql: &str, params: &[Value], each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            each(sqlite_row(row, columns)?)?;
        }
        Ok(())
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn begin(&self) -> Result<()> {
        // IMMEDIATE: take the write lock first (waiting up to the busy timeout). A deferred
        // transaction that reads and then writes fails at once when another process wrote
        // in between, and the busy timeout never applies to that.
        Ok(self.0.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&self) -> Result<()> {
        Ok(self.0.execute_batch("COMMIT")?)
    }

    fn rollback(&self) -> Result<()> {
        Ok(self.0.execute_batch("ROLLBACK")?)
    }

    fn lock_schema_version(&self) -> Result<i64> {
        // BEGIN IMMEDIATE already holds the write lock.
        Ok(self.0.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn set_schema_version(&self, version: i64) -> Result<()> {
        Ok(self.0.pragma_update(None, "user_version", version)?)
    }
}

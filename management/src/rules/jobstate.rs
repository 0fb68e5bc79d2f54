//! An async job's status, typed in the server and stored as CloudStack's integer
//! (`async_jobs.status`: 0 pending, 1 succeeded, 2 failed — the same code `jobstatus`
//! carries on the wire). The one mapping is the API's (`JobStatus::code` /
//! `JobStatus::from_code`); [`Stored`] only teaches sqlx to read and write it, so rows
//! decode into the enum and a code Postgres might hold that CloudStack does not define
//! fails the read instead of travelling on as a number.

pub use stratus_api::types::JobStatus;

/// A job status as a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored(pub JobStatus);

impl sqlx::Type<sqlx::Postgres> for Stored {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <i32 as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <i32 as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for Stored {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i32 as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.0.code(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Stored {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let code = <i32 as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
        JobStatus::from_code(code)
            .map(Stored)
            .ok_or_else(|| format!("unknown job status {code}").into())
    }
}

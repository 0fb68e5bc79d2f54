//! Pure domain rules: no I/O, unit-tested. Handlers call these to validate and decide;
//! the db layer persists what they decide.

pub mod domains;
pub mod download_policy;
pub mod hoststate;
pub mod iprange;
pub mod jobstate;
pub mod limits;
pub mod network_offerings;
pub mod password;
pub mod physical_networks;
pub mod placement;
pub mod poolstate;
pub mod projects;
pub mod public_ips;
pub mod security_groups;
pub mod settings;
pub mod snapshots;
pub mod states;
pub mod tags;
pub mod vmsnapshot;
pub mod vmstate;
pub mod volumes;
pub mod workflow;

/// Stores a state enum as Postgres `text`, spelled as the schema's CHECK constraint
/// spells it. The enum's `as_str` and `parse` are the one mapping between the two: rows
/// decode straight into the enum (an unknown spelling is a decode error, not a string
/// to re-parse at every use) and `.bind(state)` writes its text. Also `Display`.
macro_rules! text_column {
    ($ty:ty, $what:literal) => {
        impl ::sqlx::Type<::sqlx::Postgres> for $ty {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> ::std::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'q, ::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $ty {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> ::std::result::Result<Self, ::sqlx::error::BoxDynError> {
                let s = <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Self::parse(s).ok_or_else(|| format!("unknown {} {s:?}", $what).into())
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_column;

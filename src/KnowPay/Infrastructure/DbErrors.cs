using Microsoft.Data.Sqlite;
using Npgsql;

namespace KnowPay.Infrastructure;

public static class DbErrors
{
    /// <summary>True when the database refused a write because a unique constraint already holds the value.</summary>
    public static bool IsUniqueViolation(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation }) return true;
            if (x is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 }) return true;
        }
        return false;
    }
}

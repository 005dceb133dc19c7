using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace KnowPay.Data;

/// <summary>
/// An EF compiled query (translated once instead of on every call: for the hot path's reads) per EF model: EF binds a
/// compiled query to the first model it runs against, and one process may host both databases (the tests do).
/// </summary>
public sealed class CompiledQuery<TQuery>(Func<TQuery> compile) where TQuery : class
{
    readonly ConcurrentDictionary<IModel, TQuery> byModel = new();

    public TQuery For(DbContext db) => byModel.GetOrAdd(db.Model, static (_, compile) => compile(), compile);
}

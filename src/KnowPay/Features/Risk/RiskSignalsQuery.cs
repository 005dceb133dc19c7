using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace KnowPay.Features.Risk;

/// <summary>Who and what a decision is about.</summary>
public sealed record RiskSubject(string MerchantId, RiskStage Stage, string OrderId, string CustomerId, string? CustomerExternalId,
    string ProductId, long Amount, string Currency, string? Provider, RiskContextInput? Context);

/// <summary>The signals, the policy version read with them, and the groups whose query failed.</summary>
public sealed record SignalRead(Dictionary<string, object?> Signals, long? PolicyVersion, IReadOnlyList<string> Unavailable);

/// <summary>
/// Every signal of a decision in ONE query: each group is a one-row derived table over an index (risk_decisions by
/// customer, device or IP and time, one pass per subject with every window a conditional aggregate; entitlements by order
/// or customer and product; payments by card; the policy row by merchant), all cross-joined. Counted from earlier decisions, so no counter row is updated per order. If the query fails, each group is
/// read on its own and the ones that fail are left out and named: a decision never fails for a signal.
/// </summary>
public static partial class RiskSignalsQuery
{
    internal sealed record Group(string Name, string Sql, int Columns, Action<DbDataReader, int, Dictionary<string, object?>> Read);

    /// <summary>A query's text and the parameters it binds, in order: on PostgreSQL positional (<c>$1</c>…), which Npgsql sends
    /// as it is, where named ones would be rewritten on every call; on SQLite by name.</summary>
    sealed record Statement(string Text, string[] Parameters)
    {
        /// <summary>The text ending in <c>;</c>, to go in front of another statement.</summary>
        public string Batched { get; } = Text + ";\n";
    }

    /// <summary>Per database, set of groups (a handful: with or without IP and device, or one group on a retry) and how the
    /// customer is named (by id, or by the order's sub-query over its external id).</summary>
    static readonly ConcurrentDictionary<(bool Postgres, string Groups, string Customer), Statement> Statements = new();

    /// <summary>
    /// One pass over a subject's decisions of the last <paramref name="since"/>, every window a conditional aggregate of it:
    /// orders and amounts (orders not blocked) per 10 min / 1 h / 24 h, and what <paramref name="more"/> adds over the same rows.
    /// </summary>
    static string Pass(string who, string column, string since, string join, string more) => $"""
        (SELECT
          COUNT(*) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t10) AS n10,
          COUNT(*) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t1h) AS n1h,
          COUNT(*) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t24) AS n24,
          COALESCE(SUM(x.amount) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t10), 0) AS a10,
          COALESCE(SUM(x.amount) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t1h), 0) AS a1h,
          COALESCE(SUM(x.amount) FILTER (WHERE x.stage = 'Order' AND x.action <> 'Block' AND x.created_at >= @t24), 0) AS a24,
          {more}
        FROM risk_decisions x{join}
        WHERE x.merchant_id = @merchant AND x.{column} = @{who} AND x.created_at >= {since}) g_{who}
        """;

    const string Failed = """
          COUNT(pf.id) FILTER (WHERE x.created_at >= @t10) AS f10,
          COUNT(pf.id) FILTER (WHERE x.created_at >= @t1h) AS f1h,
          COUNT(pf.id) FILTER (WHERE x.created_at >= @t24) AS f24
        """;

    /// <summary>The decision's payment if it failed (<c>pf</c>): ix_payments_failed, not the primary key.</summary>
    const string WithFailedPayment = " LEFT JOIN payments pf ON pf.id = x.payment_id AND pf." + KnowPayDb.FailedPayments;

    /// <summary>The decision's payment if it has a card (<c>pc</c>): ix_payments_carded, not the primary key.</summary>
    const string WithCardedPayment = " LEFT JOIN payments pc ON pc.id = x.payment_id AND pc." + KnowPayDb.CardedPayments;

    static string[] Names(string signal, string who) => [.. RiskSignals.Windows.Select(w => $"{signal}_per_{who}_{w}")];

    static void ReadVelocity(DbDataReader r, int at, Dictionary<string, object?> s, string[] orders, string[] amounts)
    {
        for (var w = 0; w < 3; w++)
        {
            s[orders[w]] = Long(r, at + w);
            s[amounts[w]] = Long(r, at + 3 + w);
        }
    }

    /// <summary>
    /// The customer's decisions of the last 90 days, once: velocity and failed payments over 24 h, refund requests over 90
    /// days, and the distinct cards (the provider's fingerprint on the decisions' payments) tried per window.
    /// </summary>
    static readonly Group Customer = CustomerGroup();

    static Group CustomerGroup()
    {
        var (orders, amounts, failed) = (Names("orders", "customer"), Names("amount", "customer"), Names("failed_attempts", "customer"));
        var cards = RiskSignals.Windows.Select(w => $"card_count_for_customer_{w}").ToArray();
        return new("customer", Pass("customer", "customer_id", "@t90", WithFailedPayment + WithCardedPayment, Failed + """
              ,
              COUNT(*) FILTER (WHERE x.stage = 'Refund') AS rc,
              COUNT(DISTINCT pc.card_fingerprint) FILTER (WHERE x.created_at >= @t10) AS cc10,
              COUNT(DISTINCT pc.card_fingerprint) FILTER (WHERE x.created_at >= @t1h) AS cc1h,
              COUNT(DISTINCT pc.card_fingerprint) FILTER (WHERE x.created_at >= @t24) AS cc24
            """), 13, (r, at, s) =>
        {
            ReadVelocity(r, at, s, orders, amounts);
            for (var w = 0; w < 3; w++)
            {
                s[failed[w]] = Long(r, at + 6 + w);
                s[cards[w]] = Long(r, at + 10 + w);
            }
            s["refunds_per_customer_90d"] = Long(r, at + 9);
        });
    }

    /// <summary>The IP's decisions of the last 24 h, once: velocity and failed payments.</summary>
    static readonly Group Ip = IpGroup();

    static Group IpGroup()
    {
        var (orders, amounts, failed) = (Names("orders", "ip"), Names("amount", "ip"), Names("failed_attempts", "ip"));
        return new("ip", Pass("ip", "ip", "@t24", WithFailedPayment, Failed), 9, (r, at, s) =>
        {
            ReadVelocity(r, at, s, orders, amounts);
            for (var w = 0; w < 3; w++) s[failed[w]] = Long(r, at + 6 + w);
        });
    }

    /// <summary>The device's decisions of the last 24 h, once: velocity and the distinct customers seen on it.</summary>
    static readonly Group Device = DeviceGroup();

    static Group DeviceGroup()
    {
        var (orders, amounts) = (Names("orders", "device"), Names("amount", "device"));
        return new("device", Pass("device", "device_id", "@t24", "", "COUNT(DISTINCT x.customer_id) AS dc"), 7, (r, at, s) =>
        {
            ReadVelocity(r, at, s, orders, amounts);
            s["distinct_customers_per_device_24h"] = Long(r, at + 6);
        });
    }

    static readonly Group Entitlements = new("entitlements", """
        (SELECT (SELECT MAX(progress) FROM entitlements WHERE order_id = @order) AS pg,
                (SELECT COUNT(*) FROM entitlements WHERE merchant_id = @merchant AND customer_id = @customer AND product_id = @product AND revoked_at IS NULL) AS qty,
                (SELECT created_at FROM customers WHERE id = @customer) AS cc) g_en
        """, 3, (r, at, s) =>
    {
        s["consumed_progress"] = r.IsDBNull(at) ? Zero : Long(r, at);
        s["product_quantity_for_customer"] = Long(r, at + 1);
        s["@customer_created_at"] = r.IsDBNull(at + 2) ? null : r.GetDateTime(at + 2);
    });

    /// <summary>The entitlements group of an order not yet written: no entitlement can name it, so its progress is NULL (0).
    /// Named apart: the name keys the cached statement text (it is never reported unavailable: its batch is read again
    /// group by group with <see cref="Entitlements"/>).</summary>
    static readonly Group NewOrderEntitlements = Entitlements with
    {
        Name = "entitlements_new_order",
        Sql = Entitlements.Sql.Replace("(SELECT MAX(progress) FROM entitlements WHERE order_id = @order)", "NULL", StringComparison.Ordinal),
    };

    static readonly string[][] CardSignals =
        [.. new[] { "payments_per_card", "amount_per_card" }.Select(n => RiskSignals.Windows.Select(w => $"{n}_{w}").ToArray())];

    /// <summary>
    /// Every payment at the merchant on the customer's latest card (the provider's fingerprint on the customer's payments,
    /// through their decisions), whoever made it. Decisions come before the learner presents a card, so "the card" is the one
    /// the customer used last.
    /// </summary>
    static readonly Group Cards = new("cards", $"""
        (SELECT c.fp,
          COUNT(q.id) FILTER (WHERE q.created_at >= @t10) AS pc10,
          COUNT(q.id) FILTER (WHERE q.created_at >= @t1h) AS pc1h,
          COUNT(q.id) AS pc24,
          COALESCE(SUM(q.amount) FILTER (WHERE q.created_at >= @t10), 0) AS pa10,
          COALESCE(SUM(q.amount) FILTER (WHERE q.created_at >= @t1h), 0) AS pa1h,
          COALESCE(SUM(q.amount), 0) AS pa24
        FROM (SELECT (SELECT p2.card_fingerprint FROM risk_decisions x2 JOIN payments p2 ON p2.id = x2.payment_id AND p2.{KnowPayDb.CardedPayments}
             WHERE x2.merchant_id = @merchant AND x2.customer_id = @customer AND x2.created_at >= @t24
             ORDER BY x2.created_at DESC LIMIT 1) AS fp) c
        LEFT JOIN payments q ON q.merchant_id = @merchant AND q.card_fingerprint = c.fp AND q.created_at >= @t24
        GROUP BY c.fp) g_cd
        """, 7, (r, at, s) =>
    {
        s["card_fingerprint"] = r.IsDBNull(at) ? "" : r.GetString(at);
        for (var w = 0; w < 3; w++)
        {
            s[CardSignals[0][w]] = Long(r, at + 1 + w);
            s[CardSignals[1][w]] = Long(r, at + 4 + w);
        }
    });

    /// <summary>The policy row's version, in a group of its own: a failing signal table must not cost the merchant's rules.</summary>
    static readonly Group Policy = new("policy",
        "(SELECT (SELECT version FROM risk_policies WHERE merchant_id = @merchant) AS pv) g_pv",
        1, (r, at, s) => s["@policy_version"] = r.IsDBNull(at) ? null : Long(r, at));

    /// <summary>SUM over bigint is numeric on PostgreSQL, COUNT is bigint, SQLite's integers are long: read every number as long,
    /// boxed once (small values, most counts, share their boxes).</summary>
    static object Long(DbDataReader reader, int ordinal)
    {
        var type = reader.GetFieldType(ordinal);
        var value = type == typeof(long) ? reader.GetInt64(ordinal)
            : type == typeof(decimal) ? Convert.ToInt64(reader.GetDecimal(ordinal))
            : Convert.ToInt64(reader.GetValue(ordinal), System.Globalization.CultureInfo.InvariantCulture);
        return value is >= 0 and < SmallCount ? SmallLongs[value] : value;
    }

    const int SmallCount = 256;
    static readonly object[] SmallLongs = [.. Enumerable.Range(0, SmallCount).Select(n => (object)(long)n)];

    static List<Group> GroupsFor(RiskContextInput? context, Group entitlements)
    {
        var groups = new List<Group> { Policy, Customer, entitlements, Cards };
        if (context?.Ip is not null) groups.Add(Ip);
        if (context?.DeviceId is not null) groups.Add(Device);
        return groups;
    }

    /// <summary>A new order's signals, to be read in the order's own product-read round trip (<see cref="OrderSignalsBatch"/>).</summary>
    public static OrderSignalsBatch ForNewOrder(RiskContextInput? context, DateTime now) => new(GroupsFor(context, NewOrderEntitlements), context, now);

    /// <summary>The signals read by <see cref="OrderSignalsBatch"/>, completed like <see cref="ReadAsync"/>'s.</summary>
    public static SignalRead FromBatch(OrderSignalsBatch batch, RiskSubject subject)
    {
        var signals = Base(subject);
        foreach (var (name, value) in batch.Values!) signals[name] = value;
        return Complete(signals, subject, batch.Now, []);
    }

    public static async Task<SignalRead> ReadAsync(KnowPayDb db, RiskSubject subject, DateTime now, CancellationToken ct)
    {
        var groups = GroupsFor(subject.Context, Entitlements);
        var signals = Base(subject);
        var unavailable = new List<string>();
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            try
            {
                await ReadGroupsAsync(db, groups, subject, now, signals, ct);
            }
            catch (DbException) when (groups.Count > 1)
            {
                foreach (var group in groups)
                {
                    try
                    {
                        await ReadGroupsAsync(db, [group], subject, now, signals, ct);
                    }
                    catch (DbException)
                    {
                        unavailable.Add(group.Name);
                    }
                }
            }
        }
        catch (DbException)
        {
            unavailable.AddRange(groups.Select(g => g.Name));
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
        return Complete(signals, subject, now, unavailable);
    }

    static SignalRead Complete(Dictionary<string, object?> signals, RiskSubject subject, DateTime now, IReadOnlyList<string> unavailable)
    {
        var created = subject.Context?.AccountCreatedAt ?? signals.GetValueOrDefault("@customer_created_at") as DateTime?;
        signals["account_age_days"] = created is { } at
            ? (long)Math.Max(0, (now - (at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : at.ToUniversalTime())).TotalDays) : 0L;
        var version = signals.GetValueOrDefault("@policy_version") as long?;
        signals.Remove("@customer_created_at");
        signals.Remove("@policy_version");
        // Without the policy row's version the merchant's own rules cannot be known to be current: the defaults decide.
        return new SignalRead(signals, version, unavailable);
    }

    static Dictionary<string, object?> Base(RiskSubject subject)
    {
        var signals = new Dictionary<string, object?>(Capacity, StringComparer.Ordinal)
        {
            ["amount"] = subject.Amount,
            ["customer_external_id"] = subject.CustomerExternalId ?? "",
            ["customer_id"] = subject.CustomerId,
            ["product_id"] = subject.ProductId,
            ["currency"] = subject.Currency,
            ["provider"] = subject.Provider ?? "",
            ["stage"] = subject.Stage.ToString().ToLowerInvariant(),
            ["ip"] = subject.Context?.Ip ?? "",
            ["device_id"] = subject.Context?.DeviceId ?? "",
        };
        foreach (var name in ZeroWithoutContext) signals[name] = Zero;
        return signals;
    }

    /// <summary>Signals with nobody to count by (no IP or device given) are zero.</summary>
    static readonly string[] ZeroWithoutContext =
    [
        .. RiskSignals.Windows.SelectMany(w => new[] { "device", "ip" }.SelectMany(who => new[] { $"orders_per_{who}_{w}", $"amount_per_{who}_{w}" })),
        .. RiskSignals.Windows.Select(w => $"failed_attempts_per_ip_{w}"),
        "distinct_customers_per_device_24h",
    ];

    static readonly object Zero = 0L;

    /// <summary>Room for every signal and the two read for the decision itself, so that filling a dictionary never grows it.</summary>
    static readonly int Capacity = RiskSignals.Catalog.Count + 2;

    static async Task ReadGroupsAsync(KnowPayDb db, IReadOnlyList<Group> groups, RiskSubject subject, DateTime now,
        Dictionary<string, object?> signals, CancellationToken ct)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        var statement = StatementFor(db.IsPostgres, groups, "@customer");
        command.CommandText = statement.Text;
        foreach (var name in statement.Parameters)
        {
            var parameter = command.CreateParameter();
            if (!db.IsPostgres) parameter.ParameterName = name;
            parameter.Value = name switch
            {
                "@merchant" => subject.MerchantId,
                "@customer" => subject.CustomerId,
                "@order" => subject.OrderId,
                "@product" => subject.ProductId,
                "@ip" => (object?)subject.Context?.Ip ?? DBNull.Value,
                "@device" => (object?)subject.Context?.DeviceId ?? DBNull.Value,
                "@t10" => now.AddMinutes(-10),
                "@t1h" => now.AddHours(-1),
                "@t24" => now.AddHours(-24),
                "@t90" => now.AddDays(-90),
                _ => throw new InvalidOperationException("Unknown signal parameter " + name),
            };
            command.Parameters.Add(parameter);
        }
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return;
        var at = 0;
        foreach (var group in groups)
        {
            group.Read(reader, at, signals);
            at += group.Columns;
        }
    }

    /// <param name="customer">The SQL that names the customer: <c>@customer</c>, or an expression over <c>@customer</c> and
    /// <c>@merchant</c> (the caller's sub-query by external id).</param>
    static Statement StatementFor(bool postgres, IReadOnlyList<Group> groups, string customer) =>
        Statements.GetOrAdd((postgres, string.Join(',', groups.Select(g => g.Name)), customer), key =>
        {
            var text = "SELECT * FROM " + string.Join("\nCROSS JOIN ", groups.Select(g => g.Sql));
            // A customer named by an expression (a look-up by external id) is resolved once, not once per group that counts by customer.
            if (key.Customer != "@customer")
                text = $"WITH cu AS MATERIALIZED (SELECT {key.Customer} AS id)\n" + text.Replace("@customer", "(SELECT id FROM cu)", StringComparison.Ordinal);
            var names = new List<string>();
            text = ParameterName().Replace(text, match =>
            {
                if (!names.Contains(match.Value)) names.Add(match.Value);
                return postgres ? "$" + (names.IndexOf(match.Value) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : match.Value;
            });
            return new Statement(text, [.. names]);
        });

    [GeneratedRegex(@"@[a-z0-9]+")]
    private static partial Regex ParameterName();

    /// <summary>
    /// A new order's signals as the FIRST statement of the order's product-read round trip: one round trip for both. First, so
    /// that when it fails nothing after it (the Idempotency-Key's claim) has run and the caller can read again without it.
    /// The customer is named by an SQL expression over <c>@customer</c> and <c>@merchant</c> (it may be given by external id).
    /// </summary>
    public sealed class OrderSignalsBatch
    {
        readonly IReadOnlyList<Group> groups;
        readonly RiskContextInput? context;

        internal OrderSignalsBatch(IReadOnlyList<Group> groups, RiskContextInput? context, DateTime now) =>
            (this.groups, this.context, Now) = (groups, context, now);

        /// <summary>The time the windows are counted back from; the decision's time.</summary>
        public DateTime Now { get; }

        /// <summary>The groups' values once read; null until then (or when the batch failed: read on their own).</summary>
        internal Dictionary<string, object?>? Values { get; private set; }

        /// <summary>SQLite: the statement's text (ending in <c>;</c>) to put in front of the caller's, with the parameters the
        /// caller does not bind itself (<c>@merchant</c>, <c>@customer</c> and <c>@product</c> it does) added to <paramref name="command"/>.</summary>
        public string Statement(DbCommand command, string customerExpression)
        {
            var statement = StatementFor(false, groups, customerExpression);
            foreach (var name in statement.Parameters)
                if (name is not ("@merchant" or "@customer" or "@product") && Value(name) is { } value) command.AddParameter(name, value);
            return statement.Batched;
        }

        /// <summary>PostgreSQL: the statement as a batch command of its own with positional parameters, which Npgsql sends as
        /// they are (a named one's text, here thousands of characters, is rewritten on every call).</summary>
        /// <param name="customer">The customer's id, or external id when <paramref name="customerExpression"/> looks it up by that.</param>
        public NpgsqlBatchCommand Command(string customerExpression, string merchantId, string productId, string customer)
        {
            var statement = StatementFor(true, groups, customerExpression);
            var command = new NpgsqlBatchCommand(statement.Text);
            foreach (var name in statement.Parameters)
                command.Parameters.Add(new NpgsqlParameter
                {
                    Value = name switch
                    {
                        "@merchant" => merchantId,
                        "@customer" => customer,
                        "@product" => productId,
                        _ => Value(name) ?? DBNull.Value,
                    },
                });
            return command;
        }

        object? Value(string name) => name switch
        {
            "@ip" => context?.Ip,
            "@device" => context?.DeviceId,
            "@t10" => Now.AddMinutes(-10),
            "@t1h" => Now.AddHours(-1),
            "@t24" => Now.AddHours(-24),
            "@t90" => Now.AddDays(-90),
            _ => throw new InvalidOperationException("Unknown signal parameter " + name),
        };

        /// <summary>Reads the statement's one row; the reader is left on its result set.</summary>
        public async Task ReadAsync(DbDataReader reader, CancellationToken ct)
        {
            var values = new Dictionary<string, object?>(Capacity, StringComparer.Ordinal);
            if (await reader.ReadAsync(ct))
            {
                var at = 0;
                foreach (var group in groups)
                {
                    group.Read(reader, at, values);
                    at += group.Columns;
                }
            }
            Values = values;
        }
    }
}

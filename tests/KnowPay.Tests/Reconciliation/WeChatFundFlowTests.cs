using System.Text.Json.Nodes;
using KnowPay.Features.Reconciliation;
using KnowPay.Sandbox;
using KnowPay.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static KnowPay.Tests.Reconciliation.BillDiscrepancyTests;

namespace KnowPay.Tests.Reconciliation;

/// <summary>WeChat Pay's fund-flow bill: parsed by header name, its summary checked; fetched with the trade bill on every WeChat run.</summary>
[Collection("server")]
public sealed class WeChatFundFlowTests(Servers servers)
{
    const string Header = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号\r\n";

    static string Row(string type, string direction, string yuan, string voucher) =>
        $"`2026-12-02 10:00:00,`4200000001202612020001,`50001764640000000001,`交易,`{type},`{direction},`{yuan},`123.45,`system,`,`{voucher}\r\n";

    [Fact]
    public void FundFlow_BomBackticksSummary_IncomeAndExpense_ToFen_MalformedAreErrorsWithTheLine()
    {
        var good = "\uFEFF" + Header + Row("交易", "收入", "123.45", "pay_1") + Row("扣除交易手续费", "支出", "0.74", "pay_1") + Row("退款", "支出", "23.45", "re_1") +
                   "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`3,`1,`123.45,`2,`24.19\r\n";
        Assert.Equal([("交易", true, 12345L, "pay_1"), ("扣除交易手续费", false, 74L, "pay_1"), ("退款", false, 2345L, "re_1")],
            WeChatPayFundFlow.Parse(good).Select(l => (l.BusinessType, l.Income, l.Amount, l.Voucher)));
        Assert.Equal(3, WeChatPayFundFlow.Parse(good.Replace("收支金额（元）", "收支金额(元)", StringComparison.Ordinal)).Count);
        Assert.Empty(WeChatPayFundFlow.Parse("\uFEFF"));

        var missing = Assert.Throws<BillFormatException>(() => WeChatPayFundFlow.Parse(good.Replace("业务凭证号", "凭证", StringComparison.Ordinal)));
        Assert.Equal(("missing column 业务凭证号", 1), (missing.Reason, missing.Line));
        var counts = Assert.Throws<BillFormatException>(() => WeChatPayFundFlow.Parse(good.Replace("`3,`1,", "`4,`2,", StringComparison.Ordinal)));
        Assert.Equal(6, counts.Line);
        Assert.Contains("truncated", counts.Reason);
        Assert.Contains("truncated", Assert.Throws<BillFormatException>(() => WeChatPayFundFlow.Parse(good[..good.IndexOf("资金流水总笔数", StringComparison.Ordinal)])).Reason);
        Assert.Equal(3, Assert.Throws<BillFormatException>(() => WeChatPayFundFlow.Parse(good.Replace("`0.74,", "`0.745,", StringComparison.Ordinal))).Line);
    }

    [SkippableTheory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task FundFlow_BeingMade_Waits_BadSha1_Fails_AnEmptyDay_IsNoStatement_AndTheRunIsTriedAgain(Db db)
    {
        var server = await servers.Get(db);
        var faults = server.Services.GetRequiredService<SandboxFaults>();
        var m = await server.NewMerchantAsync();
        var paid = await PaidAsync(server, m, "wechatpay", Price);
        var day = await DayOfAsync(server, "wechatpay", paid);
        var key = SandboxBills.FaultKey("wechatpay", "fundflowbill", day);
        JsonObject waiting, failed;
        try
        {
            faults.Set(key, new FaultSettings(BillNotReady: true));
            waiting = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "wechatpay", date = Date(day) });
            faults.Set(key, new FaultSettings(BillCorrupt: true));
            failed = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "wechatpay", date = Date(day) });
        }
        finally
        {
            faults.Set(key, new FaultSettings());
        }
        Assert.Equal("waiting", (string?)waiting["status"]);
        Assert.Contains("STATEMENT_CREATING", (string?)waiting["reason"]);
        Assert.Equal("failed", (string?)failed["status"]);
        Assert.Contains("fund-flow bill does not match the signed SHA1", (string?)failed["reason"]);
        var retried = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "wechatpay", date = Date(day) });
        Assert.Equal(((string?)failed["id"], "completed"), ((string?)retried["id"], (string?)retried["status"]));
        Assert.Empty(await MineAsync(m, [retried], [paid], []));

        // A day with no trade at all: both bills answer NO_STATEMENT_EXIST, an empty day.
        var empty = await m.PostOkAsync("/v1/reconciliation/runs", new { provider = "wechatpay", date = "2026-01-05" });
        Assert.Equal(("completed", 0), ((string?)empty["status"], (int)empty["line_count"]!));
    }
}

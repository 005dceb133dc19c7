namespace KnowPay.Data.Migrations;

/// <summary>
/// Migration AnomalySameHourRates (both databases): a policy whose rules are exactly the three built-in
/// rules that preceded <c>card_testing_cards</c>, as System.Text.Json stored them, gets today's four (the same text a new
/// merchant's first change stores); rules a merchant edited never match. The version moves so every node's compiled
/// policy reloads. The texts are frozen here, not read from <c>RiskPolicies.Defaults</c>, so what the migration did does
/// not change with later defaults; both are plain text on both databases, compared byte for byte.
/// </summary>
public static class CardTestingCardsBackfill
{
    public const string ThreeEarlierDefaults =
        """[{"Id":"card_testing","Rule":"block if :failed_attempts_per_ip_10m: \u003E= 30"},{"Id":"customer_daily_limit","Rule":"review if :stage: == \u0027order\u0027 and :orders_per_customer_24h: \u003E= 20"},{"Id":"refund_abuse","Rule":"review if :stage: == \u0027refund\u0027 and :consumed_progress: \u003E= 80"}]""";

    public const string FourDefaults =
        """[{"Id":"card_testing","Rule":"block if :failed_attempts_per_ip_10m: \u003E= 30"},{"Id":"card_testing_cards","Rule":"block if :stage: != \u0027refund\u0027 and :card_count_for_customer_1h: \u003E 3"},{"Id":"customer_daily_limit","Rule":"review if :stage: == \u0027order\u0027 and :orders_per_customer_24h: \u003E= 20"},{"Id":"refund_abuse","Rule":"review if :stage: == \u0027refund\u0027 and :consumed_progress: \u003E= 80"}]""";

    /// <summary>
    /// The texts hold no single quote (System.Text.Json writes it as \u0027), so they sit in SQL literals as they are.
    /// There is no Down: the code before this migration knows the four rules, and a merchant who got them from its own
    /// first change cannot be told from one who got them here.
    /// </summary>
    public const string Up = $"UPDATE risk_policies SET rules = '{FourDefaults}', version = version + 1 WHERE rules = '{ThreeEarlierDefaults}';";
}

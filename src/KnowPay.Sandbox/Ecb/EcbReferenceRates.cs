using System.Globalization;

namespace KnowPay.Sandbox.Ecb;

/// <summary>
/// The ECB's <c>eurofxref-daily.xml</c> as the ECB serves it, with fixed rates dated the latest publication (14:15 CET):
/// the sandbox's reference rates, which its simulators may quote with a spread.
/// </summary>
public static class EcbReferenceRates
{
    /// <summary>Units per EUR, as in the ECB file (its currencies, its decimals).</summary>
    public static readonly IReadOnlyList<(string Currency, string Rate)> Rates =
    [
        ("USD", "1.0512"), ("JPY", "158.12"), ("CZK", "25.105"), ("DKK", "7.4589"), ("GBP", "0.83095"), ("HUF", "410.53"),
        ("PLN", "4.2763"), ("RON", "4.9748"), ("SEK", "11.5530"), ("CHF", "0.9347"), ("ISK", "145.30"), ("NOK", "11.7560"),
        ("TRY", "36.5147"), ("AUD", "1.6224"), ("BRL", "6.3275"), ("CAD", "1.4757"), ("CNY", "7.6285"), ("HKD", "8.1790"),
        ("IDR", "16748.52"), ("ILS", "3.7908"), ("INR", "89.0575"), ("KRW", "1481.44"), ("MXN", "21.4372"), ("MYR", "4.6792"),
        ("NZD", "1.7935"), ("PHP", "61.738"), ("SGD", "1.4130"), ("THB", "36.106"), ("ZAR", "18.9752"),
    ];

    public static string Daily(DateTimeOffset now)
    {
        var published = now.UtcDateTime.TimeOfDay >= new TimeSpan(13, 15, 0) ? now.UtcDateTime.Date : now.UtcDateTime.Date.AddDays(-1);
        var cubes = string.Concat(Rates.Select(r => $"\n\t\t\t<Cube currency='{r.Currency}' rate='{r.Rate}'/>"));
        return $"""
            <?xml version="1.0" encoding="UTF-8"?>
            <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
            	<gesmes:subject>Reference rates</gesmes:subject>
            	<gesmes:Sender>
            		<gesmes:name>European Central Bank</gesmes:name>
            	</gesmes:Sender>
            	<Cube>
            		<Cube time='{published.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}'>{cubes}
            		</Cube>
            	</Cube>
            </gesmes:Envelope>
            """;
    }
}

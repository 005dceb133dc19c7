using System.Net;
using System.Text.RegularExpressions;

namespace KnowPay.Sandbox;

/// <summary>
/// The simulated buyer's page of every provider, rendered from the template Kit/BuyerPage.html: what is paid, its status
/// and the form that pays. Providers differ only in these values (the button ids buyers and tests click are theirs).
/// </summary>
public sealed record BuyerPage(string Title, string Heading, string Description, string Amount, string Status)
{
    /// <summary>Plain text after the amount, e.g. " (minor units)".</summary>
    public string AmountNote { get; init; } = "";
    public string QrLabel { get; init; } = "QR target";
    public string? Qr { get; init; }
    public string? Error { get; init; }
    /// <summary>The form that pays; null once the trade can no longer be paid.</summary>
    public BuyerForm? Form { get; init; }
    /// <summary>Sized for a phone (the WAP and H5 pages a learner reaches from a phone browser).</summary>
    public bool Phone { get; init; }
    /// <summary>The merchant's return link, shown when set.</summary>
    public string? ReturnUrl { get; init; }

    public IResult Render() => Results.Content(BuyerPageTemplate.Render(this), "text/html; charset=utf-8");
}

/// <summary>The pay form: posts the hidden fields (and the card number when <see cref="CardNumber"/> is set) to <see cref="Action"/>.</summary>
public sealed record BuyerForm(string Action, string ButtonId, string Button)
{
    public IReadOnlyList<KeyValuePair<string, string>> Hidden { get; init; } = [];
    /// <summary>A line above the button, e.g. the bank's authentication request.</summary>
    public string? Prompt { get; init; }
    /// <summary>The card number input's initial value; null = no card input.</summary>
    public string? CardNumber { get; init; }
    /// <summary>Small print under the form.</summary>
    public string? Note { get; init; }
}

/// <summary>
/// Fills the template: <c>{{slot}}</c> takes an HTML-encoded value, <c>&lt;!--if x--&gt;…&lt;!--end x--&gt;</c> stays only
/// when x has a value, <c>&lt;!--each hidden--&gt;…&lt;!--end hidden--&gt;</c> repeats per hidden field.
/// </summary>
static partial class BuyerPageTemplate
{
    static readonly string Template = Load();

    public static string Render(BuyerPage page)
    {
        var form = page.Form;
        var values = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["title"] = page.Title, ["heading"] = page.Heading, ["description"] = page.Description, ["amount"] = page.Amount,
            ["amount_note"] = page.AmountNote, ["qr_label"] = page.QrLabel, ["qr"] = page.Qr, ["status"] = page.Status,
            ["error"] = page.Error, ["return"] = page.ReturnUrl, ["form"] = form is null ? null : "",
            ["action"] = form?.Action, ["prompt"] = form?.Prompt, ["card"] = form?.CardNumber, ["note"] = form?.Note,
            ["button_id"] = form?.ButtonId, ["button"] = form?.Button, ["size"] = page.Phone ? "phone" : "desktop",
        };
        return Expand(Template, values, form?.Hidden ?? []);
    }

    static string Expand(string text, Dictionary<string, string?> values, IReadOnlyList<KeyValuePair<string, string>> hidden)
    {
        text = Block().Replace(text, m => m.Groups[1].Value == "each"
            ? string.Concat(hidden.Select(h => Slots(m.Groups[3].Value, new(StringComparer.Ordinal) { ["name"] = h.Key, ["value"] = h.Value })))
            : values.GetValueOrDefault(m.Groups[2].Value) is null ? "" : Expand(m.Groups[3].Value, values, hidden));
        return Slots(text, values);
    }

    static string Slots(string text, Dictionary<string, string?> values) =>
        Slot().Replace(text, m => WebUtility.HtmlEncode(values.GetValueOrDefault(m.Groups[1].Value) ?? ""));

    static string Load()
    {
        using var stream = typeof(BuyerPage).Assembly.GetManifestResourceStream("KnowPay.Sandbox.Kit.BuyerPage.html")
            ?? throw new InvalidOperationException("The embedded resource Kit/BuyerPage.html is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"<!--(if|each) (\w+)-->(.*?)<!--end \2-->", RegexOptions.Singleline)]
    private static partial Regex Block();

    [GeneratedRegex(@"\{\{(\w+)\}\}")]
    private static partial Regex Slot();
}

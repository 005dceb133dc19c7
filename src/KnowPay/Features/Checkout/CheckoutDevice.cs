using KnowPay.Domain;
using KnowPay.Providers;

namespace KnowPay.Features.Checkout;

/// <summary>Where the learner opened the checkout: a desktop browser, a phone browser, or WeChat's own browser.</summary>
public enum CheckoutDevice { Desktop, Phone, WeChat }

public static class CheckoutDevices
{
    /// <summary>WeChat's browser says MicroMessenger (on phones and desktops alike); phone browsers say Mobile, Android or iPhone.</summary>
    public static CheckoutDevice Of(string? userAgent) =>
        string.IsNullOrEmpty(userAgent) ? CheckoutDevice.Desktop
        : userAgent.Contains("MicroMessenger", StringComparison.OrdinalIgnoreCase) ? CheckoutDevice.WeChat
        : userAgent.Contains("Mobile", StringComparison.Ordinal) || userAgent.Contains("Android", StringComparison.Ordinal) ||
          userAgent.Contains("iPhone", StringComparison.Ordinal) ? CheckoutDevice.Phone
        : CheckoutDevice.Desktop;

    /// <summary>
    /// The buttons the checkout offers, in order (cards have their own form). Desktop: the methods a desktop completes.
    /// Phone: each provider's phone-browser method (Alipay WAP, WeChat Pay H5), else its pay page. WeChat: WeChat Pay JSAPI
    /// first, then the other providers' pay pages; never Alipay (WeChat blocks it) and never H5 (WeChat refuses it there).
    /// </summary>
    public static IReadOnlyList<(string Provider, string Method)> Options(PaymentProviders providers, CheckoutDevice device)
    {
        var all = providers.All.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        return device switch
        {
            CheckoutDevice.Phone => all.SelectMany(p => PhoneMethod(p.Methods) is { } m ? [(p.Name, m)] : Array.Empty<(string, string)>()).ToList(),
            CheckoutDevice.WeChat => all.Where(p => p.Methods.Contains(PaymentMethods.Jsapi)).Select(p => (p.Name, PaymentMethods.Jsapi))
                .Concat(all.Where(p => p.Name != "alipay" && !p.Methods.Contains(PaymentMethods.Jsapi) && p.Methods.Contains(PaymentMethods.Page))
                    .Select(p => (p.Name, PaymentMethods.Page))).ToList(),
            _ => all.SelectMany(p => p.Methods.Where(m => m != PaymentMethods.Card && PaymentMethods.OnDesktop(m)).Select(m => (p.Name, m))).ToList(),
        };
    }

    static string? PhoneMethod(IReadOnlyCollection<string> methods) =>
        methods.Contains(PaymentMethods.Wap) ? PaymentMethods.Wap
        : methods.Contains(PaymentMethods.H5) ? PaymentMethods.H5
        : methods.Contains(PaymentMethods.Page) ? PaymentMethods.Page
        : null;
}

using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace KnowPay.Infrastructure;

/// <summary>
/// The base URL at which providers reach KnowPay (notify URLs) and at which the embedded sandbox answers:
/// <c>KnowPay:PublicUrl</c> when set, otherwise the first address the server listens on.
/// </summary>
public sealed class PublicUrl(IOptions<KnowPayOptions> options, IServer server)
{
    string? resolved;

    public string Base => resolved ??= Resolve();

    public string Combine(string path) => Base.TrimEnd('/') + path;

    string Resolve()
    {
        var configured = options.Value.PublicUrl;
        if (!string.IsNullOrWhiteSpace(configured)) return configured.TrimEnd('/');
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                      ?? throw new InvalidOperationException("KnowPay:PublicUrl is not set and the server has no address yet.");
        return address.Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://127.0.0.1").Replace("://+", "://127.0.0.1")
            .Replace("://*", "://127.0.0.1").TrimEnd('/');
    }
}

using KnowPay.Infrastructure;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace KnowPay.Features.Webhooks;

/// <summary>Settings <c>Webhooks:AllowPrivateNetworks</c> (default false, also in Development) and <c>Webhooks:RequireHttps</c> (default: true outside Development).</summary>
/// <summary>A webhook connection refused because its host resolved to no public address.</summary>
public sealed class WebhookAddressForbiddenException(string host) : Exception($"Webhook host '{host}' resolves to no public address.");

/// <summary>
/// Where webhooks may go: HTTPS URLs (outside Development) whose host resolves to public addresses only. Checked when an
/// endpoint is registered and again by the delivery client's connect callback, on the address actually connected to, so
/// a name that later resolves elsewhere (DNS rebinding) cannot reach the internal network either.
/// </summary>
public sealed class WebhookAddressPolicy(IOptions<WebhooksOptions> options, IHostEnvironment environment)
{
    public bool AllowPrivateNetworks => options.Value.AllowPrivateNetworks;
    public bool RequireHttps => options.Value.RequireHttps ?? !environment.IsDevelopment();

    /// <summary>Ranges that are not the public internet: this network, private, shared (CGNAT), loopback, link-local,
    /// protocol assignments, documentation, benchmarking, multicast, reserved and broadcast; their IPv6 counterparts,
    /// unique-local, site-local, discard, Teredo and IPv4-compatible addresses. IPv4 embedded in IPv6 (mapped, NAT64,
    /// 6to4) is judged by its IPv4 address.</summary>
    static readonly IPNetwork[] NonPublic =
    [
        .. new[]
        {
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
            "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
            "::/96", "::1/128", "100::/64", "2001::/32", "2001:2::/48", "2001:10::/28", "2001:20::/28", "2001:db8::/32", "fc00::/7",
            "fe80::/10", "fec0::/10", "ff00::/8",
        }.Select(IPNetwork.Parse),
    ];

    static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>True when the address is on the public internet.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) return IsPublic(address.MapToIPv4());
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            if (Nat64.Contains(address)) return IsPublic(new IPAddress(bytes[12..16]));
            if (SixToFour.Contains(address)) return IsPublic(new IPAddress(bytes[2..6]));
        }
        else if (address.AddressFamily != AddressFamily.InterNetwork) return false;
        return !NonPublic.Any(n => n.Contains(address));
    }

    /// <summary>Why the URL may not receive webhooks (a sentence for the merchant), or null when it may.</summary>
    public async Task<string?> RefusalAsync(Uri url, CancellationToken ct)
    {
        if (RequireHttps && url.Scheme != Uri.UriSchemeHttps) return "url must be an https URL.";
        if (AllowPrivateNetworks) return null;
        var host = url.IdnHost;
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal)) addresses = [literal];
        else
        {
            try { addresses = await Dns.GetHostAddressesAsync(host, ct); }
            catch (SocketException) { return "url's host does not resolve."; }
        }
        return addresses.Length > 0 && addresses.All(IsPublic) ? null : "url must resolve to public internet addresses only.";
    }

    /// <summary>The delivery client's handler: connects only to public addresses (unless private networks are allowed),
    /// follows no redirects and uses no proxy, so the address checked is the address the webhook goes to.</summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            var resolved = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
            var allowed = AllowPrivateNetworks ? resolved : resolved.Where(IsPublic).ToArray();
            if (allowed.Length == 0) throw new WebhookAddressForbiddenException(host);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public static void AddWebhookAddressPolicy(WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<WebhookAddressPolicy>();
    }
}

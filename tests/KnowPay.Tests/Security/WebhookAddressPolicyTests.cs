using System.Net;
using KnowPay.Features.Webhooks;

namespace KnowPay.Tests.Security;

/// <summary>Which addresses a webhook may reach: the public internet only.</summary>
public sealed class WebhookAddressPolicyTests
{
    [Theory]
    [InlineData("0.0.0.0")]              // unspecified
    [InlineData("0.1.2.3")]              // "this network"
    [InlineData("127.0.0.1")]            // loopback
    [InlineData("127.255.255.254")]
    [InlineData("10.0.0.1")]             // private
    [InlineData("10.255.255.255")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.10")]
    [InlineData("100.64.0.1")]           // shared address space (CGNAT)
    [InlineData("100.127.255.254")]
    [InlineData("169.254.169.254")]      // link-local: cloud metadata services
    [InlineData("192.0.0.8")]            // IETF protocol assignments
    [InlineData("192.0.2.1")]            // documentation
    [InlineData("198.18.0.1")]           // benchmarking
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.251")]          // multicast
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]            // reserved
    [InlineData("255.255.255.255")]      // broadcast
    [InlineData("::")]                   // unspecified
    [InlineData("::1")]                  // loopback
    [InlineData("::ffff:127.0.0.1")]     // IPv4-mapped loopback
    [InlineData("::ffff:10.1.2.3")]      // IPv4-mapped private
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::127.0.0.1")]          // IPv4-compatible (deprecated)
    [InlineData("64:ff9b::7f00:1")]      // NAT64 of 127.0.0.1
    [InlineData("64:ff9b::a00:1")]       // NAT64 of 10.0.0.1
    [InlineData("2002:7f00:1::1")]       // 6to4 of 127.0.0.1
    [InlineData("2002:c0a8:101::1")]     // 6to4 of 192.168.1.1
    [InlineData("fe80::1")]              // link-local
    [InlineData("fe80::1%2")]
    [InlineData("febf::1")]
    [InlineData("fec0::1")]              // site-local (deprecated)
    [InlineData("fc00::1")]              // unique-local
    [InlineData("fd12:3456:789a::1")]
    [InlineData("ff02::1")]              // multicast
    [InlineData("ff05::2")]
    [InlineData("2001:db8::1")]          // documentation
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2")] // Teredo
    [InlineData("100::1")]               // discard
    public void NonPublicAddresses_AreRefused(string address) =>
        Assert.False(WebhookAddressPolicy.IsPublic(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("1.1.1.1")]
    [InlineData("8.8.8.8")]
    [InlineData("93.184.216.34")]
    [InlineData("9.255.255.255")]        // just below 10/8
    [InlineData("11.0.0.1")]             // just above 10/8
    [InlineData("172.15.255.255")]       // just below 172.16/12
    [InlineData("172.32.0.1")]           // just above it
    [InlineData("100.63.255.255")]       // just below 100.64/10
    [InlineData("100.128.0.1")]          // just above it
    [InlineData("169.253.255.255")]
    [InlineData("192.169.0.1")]
    [InlineData("223.255.255.254")]      // last below multicast
    [InlineData("::ffff:8.8.8.8")]       // IPv4-mapped public
    [InlineData("64:ff9b::808:808")]     // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")]      // 6to4 of 8.8.8.8
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:80b::200e")]
    public void PublicAddresses_AreAllowed(string address) =>
        Assert.True(WebhookAddressPolicy.IsPublic(IPAddress.Parse(address)), address);
}

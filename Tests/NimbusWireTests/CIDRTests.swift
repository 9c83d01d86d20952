// IPv4CIDR, IPv6CIDR and IPCIDR: strict and non-strict parsing, masks, contains/overlaps/covers, firstHost,
// lastAddress, and the /0 and full-length edges.
import NimbusWire
import Testing

private func v4(_ s: String) -> IPv4Address { IPv4Address(s)! }
private func v6(_ s: String) -> IPv6Address { IPv6Address(s)! }

@Test func ipv4CIDRParsesStrictAndNonStrict() throws {
    let c = try #require(IPv4CIDR("10.0.0.0/8"))
    #expect(c.network == v4("10.0.0.0"))
    #expect(c.prefixLength == 8)
    #expect(c.mask == 0xFF00_0000)
    #expect(c.description == "10.0.0.0/8")

    #expect(IPv4CIDR("10.1.2.3/8") == nil, "strict parsing rejects host bits")
    #expect(IPv4CIDR("10.0.0.1/31") == nil)
    let loose = try #require(IPv4CIDR("10.1.2.3/8", strict: false))
    #expect(loose.network == v4("10.0.0.0"))
    #expect(loose.prefixLength == 8)
    #expect(loose == c)

    let bare = try #require(IPv4CIDR("192.0.2.7"))
    #expect(bare.prefixLength == 32)
    #expect(bare.network == v4("192.0.2.7"))
    #expect(bare.description == "192.0.2.7/32")

    #expect(IPv4CIDR(address: v4("172.16.5.4"), prefixLength: 12).network == v4("172.16.0.0"))
    #expect(IPv4CIDR(address: v4("172.31.255.255"), prefixLength: 12) == IPv4CIDR("172.16.0.0/12"))
}

@Test(arguments: [
    "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/100", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
    "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0/8", "10.0.0.256/32", "10.0.0.0/x", "10.0.0.0\\8",
])
func ipv4CIDRRejectsMalformedText(_ text: String) {
    #expect(IPv4CIDR(text) == nil, "accepted \(text)")
    #expect(IPv4CIDR(text, strict: false) == nil, "non-strict accepted \(text)")
}

@Test func ipv4CIDRMasks() {
    #expect(IPv4CIDR.mask(0) == 0)
    #expect(IPv4CIDR.mask(1) == 0x8000_0000)
    #expect(IPv4CIDR.mask(24) == 0xFFFF_FF00)
    #expect(IPv4CIDR.mask(31) == 0xFFFF_FFFE)
    #expect(IPv4CIDR.mask(32) == 0xFFFF_FFFF)
    for n in 0...32 {
        #expect(IPv4CIDR.mask(n).nonzeroBitCount == n)
        #expect(IPv4CIDR.mask(n).trailingZeroBitCount == 32 - n)
    }
}

@Test func ipv4CIDRContainsAndEdges() throws {
    let c = try #require(IPv4CIDR("10.0.1.0/24"))
    #expect(c.contains(v4("10.0.1.0")))
    #expect(c.contains(v4("10.0.1.255")))
    #expect(!c.contains(v4("10.0.2.0")))
    #expect(!c.contains(v4("10.0.0.255")))
    #expect(c.firstHost == v4("10.0.1.1"))
    #expect(c.lastAddress == v4("10.0.1.255"))

    let all = try #require(IPv4CIDR("0.0.0.0/0"))
    #expect(all.mask == 0)
    #expect(all.contains(v4("0.0.0.0")))
    #expect(all.contains(v4("255.255.255.255")))
    #expect(all.contains(v4("192.0.2.1")))
    #expect(all.firstHost == v4("0.0.0.1"))
    #expect(all.lastAddress == v4("255.255.255.255"))
    #expect(IPv4CIDR("1.0.0.0/0") == nil)
    #expect(IPv4CIDR("1.0.0.0/0", strict: false) == all)

    let host = try #require(IPv4CIDR("192.0.2.7/32"))
    #expect(host.mask == 0xFFFF_FFFF)
    #expect(host.contains(v4("192.0.2.7")))
    #expect(!host.contains(v4("192.0.2.6")))
    #expect(!host.contains(v4("192.0.2.8")))
    #expect(host.lastAddress == v4("192.0.2.7"))

    let thirtyOne = try #require(IPv4CIDR("192.0.2.6/31"))
    #expect(thirtyOne.contains(v4("192.0.2.7")))
    #expect(thirtyOne.lastAddress == v4("192.0.2.7"))

    let top = try #require(IPv4CIDR("255.255.255.0/24"))
    #expect(top.lastAddress == .broadcast)
    #expect(top.firstHost == v4("255.255.255.1"))
}

@Test func ipv4CIDROverlapsAndCovers() throws {
    func c(_ s: String) throws -> IPv4CIDR { try #require(IPv4CIDR(s)) }
    let ten = try c("10.0.0.0/8"), tenOne = try c("10.1.0.0/16"), tenTwo = try c("10.2.0.0/16")
    let eleven = try c("11.0.0.0/8"), all = try c("0.0.0.0/0"), host = try c("10.1.2.3/32")

    #expect(ten.overlaps(tenOne) && tenOne.overlaps(ten))
    #expect(!ten.overlaps(eleven) && !eleven.overlaps(ten))
    #expect(!tenOne.overlaps(tenTwo))
    #expect(all.overlaps(eleven) && eleven.overlaps(all))
    #expect(host.overlaps(tenOne) && tenOne.overlaps(host))
    #expect(ten.overlaps(ten))

    #expect(ten.covers(tenOne))
    #expect(!tenOne.covers(ten))
    #expect(ten.covers(ten))
    #expect(!tenOne.covers(tenTwo))
    #expect(all.covers(ten) && all.covers(host) && all.covers(all))
    #expect(!ten.covers(all))
    #expect(tenOne.covers(host))
    #expect(!host.covers(tenOne))
    #expect(!ten.covers(eleven))
}

@Test func ipv4CIDRAgreesWithBruteForceOnRandomPrefixes() {
    var g = SplitMix64(seed: 32)
    for _ in 0..<2000 {
        let a = IPv4CIDR(address: IPv4Address(value: UInt32(truncatingIfNeeded: g.next())),
                         prefixLength: Int.random(in: 0...32, using: &g))
        // Half the time b is near a (a's network with some low bits flipped), so overlaps are common.
        let noise = UInt32(truncatingIfNeeded: g.next()) >> UInt32.random(in: 0...31, using: &g)
        let bAddress = Bool.random(using: &g) ? a.network.value ^ noise : UInt32(truncatingIfNeeded: g.next())
        let b = IPv4CIDR(address: IPv4Address(value: bAddress), prefixLength: Int.random(in: 0...32, using: &g))
        // Ranges as closed integer intervals.
        let (a0, a1) = (UInt64(a.network.value), UInt64(a.lastAddress.value))
        let (b0, b1) = (UInt64(b.network.value), UInt64(b.lastAddress.value))
        #expect(a1 - a0 + 1 == UInt64(1) << UInt64(32 - a.prefixLength))
        #expect(a.overlaps(b) == (a0 <= b1 && b0 <= a1), "\(a) \(b)")
        #expect(a.covers(b) == (a0 <= b0 && b1 <= a1), "\(a) \(b)")
        let x = IPv4Address(value: UInt32(truncatingIfNeeded: g.next()))
        #expect(a.contains(x) == (a0...a1).contains(UInt64(x.value)))
        #expect(a.contains(a.network) && a.contains(a.lastAddress))
        #expect(IPv4CIDR(a.description) == a, "description round trip \(a)")
    }
}

@Test func ipv6CIDRParsesStrictAndNonStrict() throws {
    let c = try #require(IPv6CIDR("2001:db8::/32"))
    #expect(c.network == v6("2001:db8::"))
    #expect(c.prefixLength == 32)
    #expect(c.description == "2001:db8::/32")
    #expect(IPv6CIDR("2001:db8::1/32") == nil)
    let loose = try #require(IPv6CIDR("2001:db8:ffff::1/32", strict: false))
    #expect(loose == c)
    let bare = try #require(IPv6CIDR("2001:db8::1"))
    #expect(bare.prefixLength == 128)
    #expect(bare.network == v6("2001:db8::1"))
    for bad in ["2001:db8::/129", "2001:db8::/", "/64", "2001:db8::/64/1", "2001:db8::/1000", "2001:db8::/-1",
                "2001:db8:::/32", "10.0.0.0/8"] {
        #expect(IPv6CIDR(bad) == nil, "accepted \(bad)")
        #expect(IPv6CIDR(bad, strict: false) == nil, "non-strict accepted \(bad)")
    }
}

@Test func ipv6CIDRMasksAroundTheHalves() throws {
    #expect(IPv6CIDR.mask(0) == (0, 0))
    #expect(IPv6CIDR.mask(1) == (0x8000_0000_0000_0000, 0))
    #expect(IPv6CIDR.mask(64) == (UInt64.max, 0))
    #expect(IPv6CIDR.mask(65) == (UInt64.max, 0x8000_0000_0000_0000))
    #expect(IPv6CIDR.mask(127) == (UInt64.max, UInt64.max - 1))
    #expect(IPv6CIDR.mask(128) == (UInt64.max, UInt64.max))

    let sixtyFour = try #require(IPv6CIDR("2001:db8:0:1::/64"))
    #expect(sixtyFour.contains(v6("2001:db8:0:1:ffff:ffff:ffff:ffff")))
    #expect(!sixtyFour.contains(v6("2001:db8:0:2::")))
    #expect(IPv6CIDR("2001:db8:0:1:8000::/64") == nil)
    let sixtyFive = try #require(IPv6CIDR("2001:db8:0:1:8000::/65"))
    #expect(sixtyFive.contains(v6("2001:db8:0:1:ffff::1")))
    #expect(!sixtyFive.contains(v6("2001:db8:0:1:7fff::1")))
    let one27 = try #require(IPv6CIDR("::2/127"))
    #expect(one27.contains(v6("::3")))
    #expect(!one27.contains(v6("::4")))
    #expect(IPv6CIDR("::3/127") == nil)

    let all = try #require(IPv6CIDR("::/0"))
    #expect(all.contains(v6("::")))
    #expect(all.contains(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")))
    #expect(all.overlaps(sixtyFour) && sixtyFour.overlaps(all))
    let host = try #require(IPv6CIDR("2001:db8::1/128"))
    #expect(host.contains(v6("2001:db8::1")))
    #expect(!host.contains(v6("2001:db8::")))
    #expect(!host.contains(v6("2001:db8::2")))
    #expect(!sixtyFour.overlaps(host))
    #expect(try #require(IPv6CIDR("2001:db8::/32")).overlaps(host))
    #expect(IPv6CIDR(address: v6("2001:db8:abcd:1234::1"), prefixLength: 48).network == v6("2001:db8:abcd::"))
}

@Test func ipCIDRDispatchesOnFamily() throws {
    let a = try #require(IPCIDR("10.0.0.0/8"))
    #expect(a == .v4(try #require(IPv4CIDR("10.0.0.0/8"))))
    #expect(a.description == "10.0.0.0/8")
    let b = try #require(IPCIDR("::/0"))
    #expect(b == .v6(try #require(IPv6CIDR("::/0"))))
    #expect(b.description == "::/0")
    #expect(IPCIDR("10.0.0.1/8") == nil)
    #expect(IPCIDR("10.0.0.1/8", strict: false) == .v4(try #require(IPv4CIDR("10.0.0.0/8"))))
    #expect(IPCIDR("2001:db8::1/32") == nil)
    #expect(IPCIDR("2001:db8::1/32", strict: false)?.description == "2001:db8::/32")
    #expect(IPCIDR("") == nil)
    #expect(IPCIDR("garbage") == nil)
    #expect(IPCIDR("10.0.0.0/33") == nil)
    #expect(IPCIDR("::ffff:10.0.0.0/104")?.description == "::ffff:a00:0/104")
}

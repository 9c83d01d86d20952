// InternetChecksum: RFC 1071 examples, odd lengths, the 8-byte fast path against a naive reference, the
// RFC 1624 incremental updates (16- and 32-bit) against full recomputation, and the pseudo-header sums.
import NimbusWire
import Testing

private func sum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
    withPacket(bytes) { InternetChecksum.partialSum($0, initial: initial) }
}
private func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    withPacket(bytes) { InternetChecksum.compute($0, initial: initial) }
}
private func verifies(_ bytes: [UInt8], initial: UInt32 = 0) -> Bool {
    withPacket(bytes) { InternetChecksum.verify($0, initial: initial) }
}

@Test func rfc1071Section3Example() {
    // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (before the complement).
    let bytes = hex("00 01 f2 03 f4 f5 f6 f7")
    #expect(sum(bytes) == 0xDDF2)
    #expect(checksum(bytes) == 0x220D)
    #expect(naiveSum(bytes) == 0xDDF2)
    // The same words in other groupings go through the 2-byte loop, alone or after the 8-byte loop.
    #expect(sum(Array(bytes[0..<6])) == naiveSum(Array(bytes[0..<6])))
    #expect(sum(bytes + bytes) == naiveSum(bytes + bytes))
    #expect(sum(bytes + [0, 0]) == 0xDDF2)
    // Appending the checksum makes the whole verify.
    #expect(verifies(bytes + [0x22, 0x0D]))
    #expect(!verifies(bytes + [0x22, 0x0C]))
}

@Test func oddLengthPadsTheLastByteWithZero() {
    #expect(sum([]) == 0)
    #expect(checksum([]) == 0xFFFF)
    #expect(sum([0x01]) == 0x0100)
    #expect(sum([0x00, 0x01, 0xF2]) == 0xF201)
    #expect(sum(hex("00 01 f2 03 f4 f5 f6 f7 ab")) == 0x88F3)   // 0xddf2 + 0xab00 = 0x188f2 -> 0x88f3
    #expect(sum([0xFF]) == 0xFF00)
    #expect(sum([0xFF, 0xFF, 0xFF]) == 0xFF00)                  // 0xffff + 0xff00 = 0x1feff -> 0xff00
    // initial is added before folding.
    #expect(sum([0x01], initial: 0x00FF) == 0x01FF)
    #expect(sum([0xFF, 0xFF], initial: 0x0001) == 0x0001)
}

@Test func knownIPv4HeaderChecksum() throws {
    var header = hex("45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7")
    #expect(verifies(header))
    #expect(sum(header) == 0xFFFF)
    header[10] = 0
    header[11] = 0
    #expect(checksum(header) == 0xB861)
    #expect(!verifies(header))
    // Through the view: 115-byte datagram whose header this is.
    let datagram = hex("45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7")
        + [UInt8](repeating: 0x5A, count: 0x73 - 20)
    try withPacket(datagram) { raw in
        let ip = try IPv4Header(raw)
        #expect(ip.checksum == 0xB861)
        #expect(ip.isHeaderChecksumValid)
        ip.updateChecksum()
        #expect(ip.checksum == 0xB861)
    }
}

@Test func fastPathMatchesNaiveReferenceForManyLengthsAndAlignments() {
    var g = SplitMix64(seed: 0x1071)
    let guarded = GuardedBuffer(capacity: 20_000)
    var lengths = Array(0...300)
    for _ in 0..<400 { lengths.append(Int.random(in: 301...16_000, using: &g)) }
    for n in lengths {
        // Random data, and for some lengths saturated data (all 0xff) that stresses the carries.
        let data: [UInt8] = n % 7 == 3 ? [UInt8](repeating: 0xFF, count: n) : g.bytes(n)
        let initial = n % 3 == 0 ? 0 : UInt32.random(in: 0...0xFFFF_FFFF, using: &g)
        let slack = Int.random(in: 0...7, using: &g)     // vary the alignment of the start
        guarded.withTail(data, slack: slack) { raw in
            let s = InternetChecksum.partialSum(raw, initial: initial)
            #expect(s == naiveSum(data, initial: initial), "length \(n) slack \(slack)")
            #expect(s <= 0xFFFF)
            #expect(InternetChecksum.compute(raw, initial: initial) == naiveChecksum(data, initial: initial))
        }
        // The data at the very end of the mapping: reading past it would fault.
        guarded.withTail(data) { raw in
            #expect(InternetChecksum.partialSum(raw) == naiveSum(data), "length \(n) at guard page")
        }
    }
}

@Test func partialSumsCompose() {
    // Summing two even-length pieces separately, chaining through `initial`, equals summing the whole.
    var g = SplitMix64(seed: 77)
    for _ in 0..<500 {
        let a = g.bytes(2 * Int.random(in: 0...200, using: &g))
        let b = g.bytes(Int.random(in: 0...401, using: &g))
        let chained = withPacket(a) { ra in withPacket(b) { rb in
            InternetChecksum.partialSum(rb, initial: InternetChecksum.partialSum(ra))
        } }
        #expect(chained == naiveSum(a + b))
    }
}

@Test func finishFoldsAndComplements() {
    #expect(InternetChecksum.finish(0) == 0xFFFF)
    #expect(InternetChecksum.finish(0xFFFF) == 0)
    #expect(InternetChecksum.finish(0x1_FFFE) == 0)             // 0xfffe + 1
    #expect(InternetChecksum.finish(0xDDF2) == 0x220D)
    #expect(InternetChecksum.finish(0xFFFF_FFFF) == 0)          // 0xffff + 0xffff = 0x1fffe -> 0xffff
    #expect(InternetChecksum.finish(0x0002_0003) == ~UInt16(5))
}

// MARK: - RFC 1624 incremental update

/// A random IPv4-looking header (version/IHL 0x45, so never all zero) with a correct checksum.
private func randomHeader(_ g: inout SplitMix64) -> [UInt8] {
    var h = g.bytes(20)
    h[0] = 0x45
    h[10] = 0
    h[11] = 0
    let c = naiveChecksum(h)
    h[10] = UInt8(c >> 8)
    h[11] = UInt8(c & 0xFF)
    return h
}

private func word(_ h: [UInt8], _ i: Int) -> UInt16 { UInt16(h[i]) << 8 | UInt16(h[i + 1]) }
private func setWord(_ h: inout [UInt8], _ i: Int, _ v: UInt16) {
    h[i] = UInt8(v >> 8)
    h[i + 1] = UInt8(v & 0xFF)
}
private func fullRecompute(_ h: [UInt8]) -> UInt16 {
    var z = h
    setWord(&z, 10, 0)
    return naiveChecksum(z)
}

@Test func incremental16BitUpdateEqualsFullRecompute() {
    var g = SplitMix64(seed: 1624)
    let interesting: [UInt16] = [0x0000, 0xFFFF, 0x0001, 0xFFFE, 0x8000, 0x7FFF]
    for i in 0..<20_000 {
        var h = randomHeader(&g)
        let offset = [0, 2, 4, 6, 8, 12, 14, 16, 18][Int.random(in: 0..<9, using: &g)]
        let old = word(h, offset)
        let new: UInt16 = i % 4 == 0 ? interesting[Int.random(in: 0..<interesting.count, using: &g)]
                                     : UInt16.random(in: 0...0xFFFF, using: &g)
        let updated = InternetChecksum.update(word(h, 10), old: old, new: new)
        setWord(&h, offset, new)
        let expected = fullRecompute(h)
        #expect(updated == expected, "offset \(offset) \(old)->\(new): \(updated) vs \(expected)")
        setWord(&h, 10, updated)
        #expect(naiveSum(h) == 0xFFFF)
    }
}

@Test func incremental32BitUpdateEqualsFullRecompute() {
    var g = SplitMix64(seed: 0x32)
    let interesting: [UInt32] = [0, 0xFFFF_FFFF, 0x0000_FFFF, 0xFFFF_0000, 1]
    for i in 0..<20_000 {
        var h = randomHeader(&g)
        let offset = [0, 4, 12, 16][Int.random(in: 0..<4, using: &g)]
        let old = UInt32(word(h, offset)) << 16 | UInt32(word(h, offset + 2))
        let new: UInt32 = i % 4 == 0 ? interesting[Int.random(in: 0..<interesting.count, using: &g)]
                                     : UInt32.random(in: 0...UInt32.max, using: &g)
        let updated = InternetChecksum.update(word(h, 10), old: old, new: new)
        setWord(&h, offset, UInt16(new >> 16))
        setWord(&h, offset + 2, UInt16(new & 0xFFFF))
        let expected = fullRecompute(h)
        #expect(updated == expected, "offset \(offset) \(old)->\(new): \(updated) vs \(expected)")
    }
}

@Test func rfc1624CornerCases() {
    // RFC 1624 section 3/4: data 0xcd7a plus a field changing 0x5555 -> 0x3285. The new sum is 0xffff, so
    // the correct checksum is 0x0000; the RFC 1141 formula got 0xffff (a "minus zero") here.
    let before = hex("cd 7a 55 55")
    #expect(checksum(before) == 0xDD2F)
    let after = hex("cd 7a 32 85")
    #expect(checksum(after) == 0x0000)
    #expect(InternetChecksum.update(UInt16(0xDD2F), old: UInt16(0x5555), new: UInt16(0x3285)) == checksum(after))
    // And back again.
    #expect(InternetChecksum.update(UInt16(0x0000), old: UInt16(0x3285), new: UInt16(0x5555)) == 0xDD2F)
    // The 32-bit form over the same words.
    #expect(InternetChecksum.update(UInt16(0xDD2F), old: UInt32(0xCD7A_5555), new: UInt32(0xCD7A_3285)) == 0x0000)

    // Constructed IPv4 headers where a change lands exactly on a new sum of 0xffff (checksum 0x0000) or
    // starts from a checksum of 0x0000; the incremental result must equal full recomputation each time, and
    // must not be 0x0000 when the true checksum is not (and vice versa).
    var g = SplitMix64(seed: 0xC0)
    var hitZero = 0, fromZero = 0
    for _ in 0..<5_000 {
        var h = randomHeader(&g)
        // Pick the identification word so that the header's sum is 0xffff: checksum 0x0000.
        setWord(&h, 4, 0)
        setWord(&h, 10, 0)
        let rest = naiveSum(h)                                  // sum without the identification
        let id = ~UInt16(rest)                                  // rest + id = 0xffff
        let oldID = word(randomHeader(&g), 4)
        setWord(&h, 4, oldID)
        let oldChecksum = fullRecompute(h)
        setWord(&h, 10, oldChecksum)
        let updated = InternetChecksum.update(oldChecksum, old: oldID, new: id)
        setWord(&h, 4, id)
        let expected = fullRecompute(h)
        #expect(updated == expected)
        if expected == 0 { hitZero += 1 }
        // Now move away from checksum 0x0000 to a random value.
        setWord(&h, 10, updated)
        let next = UInt16.random(in: 0...0xFFFF, using: &g)
        let again = InternetChecksum.update(updated, old: id, new: next)
        setWord(&h, 4, next)
        #expect(again == fullRecompute(h))
        if updated == 0 { fromZero += 1 }
    }
    #expect(hitZero > 4_000, "the construction should mostly land on checksum 0x0000")
    #expect(fromZero > 4_000)
}

@Test func ipv4HeaderMutatorsKeepTheChecksumValid() throws {
    var g = SplitMix64(seed: 8)
    for _ in 0..<2_000 {
        var h = randomHeader(&g)
        h[2] = 0
        h[3] = 20                                             // total length 20: a bare header
        h[10] = 0
        h[11] = 0
        let c = naiveChecksum(h)
        setWord(&h, 10, c)
        let src = IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g))
        let dst = IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g))
        try withPacket(h) { raw in
            let ip = try IPv4Header(raw)
            let ttl = ip.ttl
            ip.decrementTTL()
            #expect(ip.ttl == ttl &- 1)
            #expect(ip.isHeaderChecksumValid)
            #expect(ip.checksum == fullRecompute(raw.array))
            ip.setSource(src)
            #expect(ip.source == src)
            #expect(ip.checksum == fullRecompute(raw.array))
            ip.setDestination(dst)
            #expect(ip.destination == dst)
            #expect(ip.checksum == fullRecompute(raw.array))
            #expect(ip.isHeaderChecksumValid)
        }
    }
}

// MARK: - Pseudo-headers

@Test func ipv4PseudoHeaderSum() {
    // 192.168.0.1 -> 192.168.0.199, UDP, length 0x5f: c0a8 + 0001 + c0a8 + 00c7 + 0011 + 005f.
    let s = InternetChecksum.pseudoHeaderSum(source: IPv4Address(192, 168, 0, 1),
                                             destination: IPv4Address(192, 168, 0, 199), protocol: 17,
                                             length: 0x5F)
    #expect(s == naiveSum(hex("c0a8 0001 c0a8 00c7 0011 005f")))
    #expect(s == 0x8289)
    var g = SplitMix64(seed: 9)
    for _ in 0..<1000 {
        let a = UInt32.random(in: 0...UInt32.max, using: &g), b = UInt32.random(in: 0...UInt32.max, using: &g)
        let p = UInt8.random(in: 0...255, using: &g), len = Int.random(in: 0...0xFFFF, using: &g)
        var bytes: [UInt8] = []
        for v in [a, b] { bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        bytes += [0, p, UInt8(len >> 8), UInt8(len & 0xFF)]
        let got = InternetChecksum.pseudoHeaderSum(source: IPv4Address(value: a), destination: IPv4Address(value: b),
                                                   protocol: p, length: len)
        #expect(got == naiveSum(bytes))
    }
}

@Test func ipv6PseudoHeaderSum() {
    var g = SplitMix64(seed: 10)
    for _ in 0..<1000 {
        let src = IPv6Address(high: g.next(), low: g.next()), dst = IPv6Address(high: g.next(), low: g.next())
        let nh = UInt8.random(in: 0...255, using: &g)
        let len = Int.random(in: 0...0xFFFF_FFFF, using: &g)
        var bytes = [UInt8](repeating: 0, count: 40)
        withPacket(bytes) { raw in
            src.write(to: raw, at: 0)
            dst.write(to: raw, at: 16)
            raw.setU32(32, UInt32(len))
            raw.setU8(39, nh)
            bytes = raw.array
        }
        let got = InternetChecksum.pseudoHeaderSum(source: src, destination: dst, nextHeader: nh, length: len)
        #expect(got == naiveSum(bytes))
    }
}

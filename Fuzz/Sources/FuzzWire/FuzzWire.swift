// libFuzzer target: every NimbusWire view over arbitrary bytes, every accessor called.
//
// The input is parsed twice: each view directly at offset 0 (so each parser sees the whole byte space),
// and as a frame, Ethernet -> ARP / IPv4 / IPv6 -> TCP (+ options) / UDP / ICMP, the way the classify
// stage walks it. Views promise that after their throwing initialiser every accessor is in bounds; under
// AddressSanitizer the bytes sit in an allocation of exactly the input's size, so a read one past the
// end is reported. Invariants checked: views never extend past the bytes they were given, and the
// IPv4Repr round trip (parse(emit(r)) == r).
import FuzzSupport
import NimbusWire

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var sink: UInt64 = 0

@inline(never) func use(_ v: some FixedWidthInteger) { sink &+= UInt64(truncatingIfNeeded: v) }
@inline(never) func use(_ v: Bool) { sink &+= v ? 1 : 0 }

func within(_ inner: RawBytes, _ outer: RawBytes, _ what: String) {
    let lo = outer.base, hi = outer.base + outer.count
    guard inner.count >= 0, inner.base >= lo, inner.base + inner.count <= hi else {
        fuzzFailure("\(what): view [\(inner.base), +\(inner.count)) outside [\(lo), +\(outer.count))")
    }
}

func touch(_ b: RawBytes) {
    // Reads the first and last byte of a window, so ASan sees any window that leaves the allocation.
    if b.count > 0 { use(b.u8(0)); use(b.u8(b.count - 1)) }
}

func ethernet(_ b: RawBytes) {
    guard let f = try? EthernetFrame(b) else { return }
    use(f.destination.value); use(f.source.value); use(f.etherType); use(f.vlanID ?? 0)
    use(f.destination.isBroadcast); use(f.destination.isMulticast)
    within(f.payload, b, "ethernet payload"); touch(f.payload)
    switch f.etherType {
    case EtherType.arp: arp(f.payload)
    case EtherType.ipv4: ipv4(f.payload)
    case EtherType.ipv6: ipv6(f.payload)
    default: break
    }
}

func arp(_ b: RawBytes) {
    guard let a = try? ARPPacket(b) else { return }
    use(a.operation); use(a.senderMAC.value); use(a.senderIP.value); use(a.targetMAC.value); use(a.targetIP.value)
    within(a.bytes, b, "arp")
}

func ipv4(_ b: RawBytes) {
    guard let h = try? IPv4Header(b) else { return }
    within(h.bytes, b, "ipv4 bytes")
    use(h.headerLength); use(h.tos); use(h.totalLength); use(h.identification); use(h.dontFragment)
    use(h.moreFragments); use(h.fragmentOffset); use(h.isFragment); use(h.ttl); use(h.protocol)
    use(h.checksum); use(h.source.value); use(h.destination.value); use(h.isHeaderChecksumValid)
    use(h.source.isMulticast); use(h.destination.isLimitedBroadcast); use(h.source.isLoopback)
    within(h.options, h.bytes, "ipv4 options"); touch(h.options)
    within(h.payload, h.bytes, "ipv4 payload"); touch(h.payload)
    // Round trip through the value form, on a scratch copy (emit writes 20 bytes).
    let r = IPv4Repr(h)
    if r.payloadLength >= 0 && r.payloadLength <= 65535 - 20 {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 20 + r.payloadLength, alignment: 8)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        let out = RawBytes(scratch)
        r.emit(to: out)
        guard let back = try? IPv4Header(out) else { fuzzFailure("emitted IPv4 header does not parse") }
        if IPv4Repr(back) != r { fuzzFailure("IPv4Repr round trip: \(IPv4Repr(back)) != \(r)") }
        if !back.isHeaderChecksumValid { fuzzFailure("emitted IPv4 header has a bad checksum") }
    }
    // Only first fragments carry the L4 header.
    if h.fragmentOffset == 0 { l4(h.protocol, h.payload, v4: h) }
}

func ipv6(_ b: RawBytes) {
    guard let h = try? IPv6Header(b) else { return }
    within(h.bytes, b, "ipv6 bytes")
    use(h.trafficClass); use(h.payloadLength); use(h.nextHeader); use(h.hopLimit)
    use(h.source.high); use(h.source.low); use(h.destination.high); use(h.destination.low)
    use(h.upperProtocol); use(h.upperOffset); use(h.fragmentOffset ?? -1); use(h.isNonFirstFragment)
    if h.upperOffset < 40 || h.upperOffset > h.bytes.count { fuzzFailure("ipv6 upperOffset \(h.upperOffset) of \(h.bytes.count)") }
    if let f = h.fragmentHeaderOffset, f < 40 || f + 8 > h.bytes.count { fuzzFailure("ipv6 fragment header at \(f)") }
    within(h.upperPayload, h.bytes, "ipv6 upper payload"); touch(h.upperPayload)
    if !h.isNonFirstFragment { l4(h.upperProtocol, h.upperPayload, v4: nil) }
}

func l4(_ proto: UInt8, _ b: RawBytes, v4: IPv4Header?) {
    switch proto {
    case IPProtocol.tcp: tcp(b, v4: v4)
    case IPProtocol.udp: udp(b, v4: v4)
    case IPProtocol.icmp: icmp(b)
    case IPProtocol.icmpv6: icmpv6(b)
    default: break
    }
}

func tcp(_ b: RawBytes, v4: IPv4Header?) {
    guard let t = try? TCPHeader(b) else { return }
    use(t.sourcePort); use(t.destinationPort); use(t.sequenceNumber); use(t.acknowledgmentNumber)
    use(t.headerLength); use(t.flags); use(t.window); use(t.checksum); use(t.urgentPointer)
    within(t.options, t.bytes, "tcp options"); touch(t.options)
    within(t.payload, t.bytes, "tcp payload"); touch(t.payload)
    if let v4 { use(t.isChecksumValid(source: v4.source, destination: v4.destination)) }
    var it = TCPOptionIterator(t.options)
    var n = 0
    while true {
        let o: (kind: UInt8, data: RawBytes)?
        do { o = try it.next() } catch { break }
        guard let (kind, data) = o else { break }
        within(data, t.options, "tcp option data"); touch(data)
        use(kind); use(data.count)
        n += 1
        if n > 40 { fuzzFailure("TCP option walk did not end (\(n) options in \(t.options.count) bytes)") }
    }
    if let opts = try? t.parsedOptions() { use(opts.count) }
}

func udp(_ b: RawBytes, v4: IPv4Header?) {
    guard let u = try? UDPHeader(b) else { return }
    within(u.bytes, b, "udp bytes")
    use(u.sourcePort); use(u.destinationPort); use(u.length); use(u.checksum)
    within(u.payload, u.bytes, "udp payload"); touch(u.payload)
    if let v4 { use(u.isChecksumValid(source: v4.source, destination: v4.destination)) }
}

func icmp(_ b: RawBytes) {
    guard let i = try? ICMPHeader(b) else { return }
    use(i.type); use(i.code); use(i.checksum); use(i.identifier); use(i.sequence); use(i.isError)
    use(i.isEcho); use(i.isChecksumValid)
    within(i.body, i.bytes, "icmp body"); touch(i.body)
    // An ICMP error quotes a datagram: parse the quote as IPv4 too.
    if i.isError { ipv4Quoted(i.body) }
}

func ipv4Quoted(_ b: RawBytes) {
    guard let h = try? IPv4Header(b) else { return }
    use(h.source.value); use(h.destination.value); use(h.protocol)
}

func icmpv6(_ b: RawBytes) {
    guard let i = try? ICMPv6Header(b) else { return }
    use(i.type); use(i.code); use(i.checksum); use(i.isError)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Exactly `size` bytes, so AddressSanitizer flags any read past the end.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
    defer { buffer.deallocate() }
    if size > 0 { buffer.baseAddress!.copyMemory(from: data, byteCount: size) }
    let b = RawBytes(buffer)
    // Each view directly on the bytes...
    ethernet(b)
    arp(b)
    ipv4(b)
    ipv6(b)
    tcp(b, v4: nil)
    udp(b, v4: nil)
    icmp(b)
    icmpv6(b)
    // ... and the checksum helpers over everything.
    use(InternetChecksum.compute(b))
    use(InternetChecksum.partialSum(b))
    if size >= 2 { use(InternetChecksum.update(0x1234, old: UInt16(data[0]), new: UInt16(data[1]))) }
    return 0
}

/// The entry point: SwiftPM links `main` to `FuzzWire_main`, which hands over to libFuzzer's driver.
@_cdecl("FuzzWire_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data!, size) }
}

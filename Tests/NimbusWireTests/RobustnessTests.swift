// Never traps: every prefix of several valid packets, thousands of seeded random mutations and random byte
// strings go through every view initialiser; each either throws a WireError or yields a view whose accessors
// all work. Inputs end exactly at a PROT_NONE guard page, so an out-of-bounds read crashes the test.
import NimbusWire
import Testing

/// Calls every accessor of every view that accepts `raw`, and of the views nested inside it.
private struct Exerciser {
    var accepted = 0
    var rejected = 0
    var sink = 0

    mutating func note(_ v: some BinaryInteger) { sink = sink &+ Int(truncatingIfNeeded: v) }
    mutating func note(_ b: RawBytes) {
        let a = b.array
        note(a.count)
        if let f = a.first { note(f) }
        if let l = a.last { note(l) }
    }

    mutating func everything(_ raw: RawBytes) {
        ethernet(raw)
        arp(raw)
        ipv4(raw)
        ipv6(raw)
        transport(raw, v4Source: ip10_1, v4Destination: ip10_2)
    }

    mutating func ethernet(_ raw: RawBytes) {
        do throws(WireError) {
            let f = try EthernetFrame(raw)
            accepted += 1
            note(f.destination.value); note(f.source.value); note(f.etherType); note(f.vlanID ?? 0)
            note(f.payloadOffset); note(f.payload)
            arp(f.payload)
            ipv4(f.payload)
            ipv6(f.payload)
        } catch { rejected += 1 }
    }

    mutating func arp(_ raw: RawBytes) {
        do throws(WireError) {
            let a = try ARPPacket(raw)
            accepted += 1
            note(a.operation); note(a.senderMAC.value); note(a.senderIP.value); note(a.targetMAC.value)
            note(a.targetIP.value)
        } catch { rejected += 1 }
    }

    mutating func ipv4(_ raw: RawBytes) {
        do throws(WireError) {
            let ip = try IPv4Header(raw)
            accepted += 1
            note(ip.headerLength); note(ip.tos); note(ip.totalLength); note(ip.identification)
            note(ip.dontFragment ? 1 : 0); note(ip.moreFragments ? 1 : 0); note(ip.fragmentOffset)
            note(ip.isFragment ? 1 : 0); note(ip.ttl); note(ip.protocol); note(ip.checksum)
            note(ip.source.value); note(ip.destination.value); note(ip.options); note(ip.payload)
            note(ip.isHeaderChecksumValid ? 1 : 0)
            _ = IPv4Repr(ip)
            // The mutators stay inside the header.
            ip.decrementTTL()
            ip.setSource(IPv4Address(1, 2, 3, 4))
            ip.setDestination(IPv4Address(5, 6, 7, 8))
            ip.updateChecksum()
            #expect(ip.isHeaderChecksumValid)
            transport(ip.payload, v4Source: ip.source, v4Destination: ip.destination)
        } catch { rejected += 1 }
    }

    mutating func ipv6(_ raw: RawBytes) {
        do throws(WireError) {
            let ip = try IPv6Header(raw)
            accepted += 1
            #expect(ip.upperOffset >= 40 && ip.upperOffset <= ip.bytes.count)
            #expect(ip.bytes.count <= raw.count)
            note(ip.trafficClass); note(ip.payloadLength); note(ip.nextHeader); note(ip.hopLimit)
            note(ip.source.high); note(ip.source.low); note(ip.destination.high); note(ip.destination.low)
            note(ip.upperProtocol); note(ip.upperOffset); note(ip.fragmentHeaderOffset ?? -1)
            note(ip.fragmentOffset ?? -1); note(ip.isNonFirstFragment ? 1 : 0); note(ip.upperPayload)
            ip.setHopLimit(ip.hopLimit &- 1)
            transport(ip.upperPayload, v4Source: ip10_1, v4Destination: ip10_2)
        } catch { rejected += 1 }
    }

    mutating func transport(_ raw: RawBytes, v4Source: IPv4Address, v4Destination: IPv4Address) {
        do throws(WireError) {
            let t = try TCPHeader(raw)
            accepted += 1
            note(t.sourcePort); note(t.destinationPort); note(t.sequenceNumber); note(t.acknowledgmentNumber)
            note(t.headerLength); note(t.flags); note(t.window); note(t.checksum); note(t.urgentPointer)
            note(t.options); note(t.payload)
            note(t.isChecksumValid(source: v4Source, destination: v4Destination) ? 1 : 0)
            do throws(WireError) {
                for o in try t.parsedOptions() { note(o.kind); note(o.data.count) }
            } catch { rejected += 1 }
            var it = TCPOptionIterator(t.options)
            do throws(WireError) {
                while let o = try it.next() { note(o.kind); note(o.data) }
            } catch { rejected += 1 }
        } catch { rejected += 1 }
        do throws(WireError) {
            let u = try UDPHeader(raw)
            accepted += 1
            #expect(u.bytes.count == u.length)
            note(u.sourcePort); note(u.destinationPort); note(u.length); note(u.checksum); note(u.payload)
            note(u.isChecksumValid(source: v4Source, destination: v4Destination) ? 1 : 0)
        } catch { rejected += 1 }
        do throws(WireError) {
            let m = try ICMPHeader(raw)
            accepted += 1
            note(m.type); note(m.code); note(m.checksum); note(m.identifier); note(m.sequence)
            note(m.isError ? 1 : 0); note(m.isEcho ? 1 : 0); note(m.body); note(m.isChecksumValid ? 1 : 0)
            m.updateChecksum()
            #expect(m.isChecksumValid)
        } catch { rejected += 1 }
        do throws(WireError) {
            let m = try ICMPv6Header(raw)
            accepted += 1
            note(m.type); note(m.code); note(m.checksum); note(m.isError ? 1 : 0)
        } catch { rejected += 1 }
    }
}

private let eth = hex("02 00 00 00 00 0b 02 00 00 00 00 0a")

/// Valid packets covering every view and every branch of the IPv6 walk.
private let seeds: [(String, [UInt8])] = [
    ("ipv4 options + udp", eth + hex("0800") + hex("""
        46 00 00 24 1c 46 20 b9 40 11 94 c3 0a 00 00 01 0a 00 00 02 94 04 00 00
        04 d2 16 2e 00 0c 00 00 de ad be ef
        """)),
    ("vlan + ipv4 + tcp options", eth + hex("8100 0064 0800") + hex("45 00 00 3c 00 01 40 00 40 06 00 00 0a 00 00 01 0a 00 00 02")
        + hex("""
        c0 00 01 bb 01 02 03 04 00 00 00 00 a0 02 fa f0 73 4a 00 00
        02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00 01 03 03 07
        """)),
    ("arp request", FrameBuilder.arpRequest(sourceMAC: macA, senderIP: ip10_1, targetIP: ip10_2)),
    ("icmp echo", FrameBuilder.echoFrame(sourceMAC: macA, destinationMAC: macB, source: ip10_1, destination: ip10_2,
                                         identifier: 1, sequence: 2, payload: Array(0..<12))),
    ("udp", FrameBuilder.udpFrame(sourceMAC: macA, destinationMAC: macB, source: ip10_1, destination: ip10_2,
                                  sourcePort: 53, destinationPort: 5353, payload: [1, 2, 3])),
    ("ipv6 hbh + fragment + udp", eth + hex("86dd") + hex("""
        60 ab cd ef 00 1c 00 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
        20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
        2c 00 01 04 00 00 00 00  11 00 03 21 12 34 56 78
        04 d2 16 2e 00 0c 00 00 de ad be ef
        """)),
    ("ipv6 routing + dstopts + ah + icmpv6", eth + hex("86dd") + hex("""
        60 00 00 00 00 40 2b 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
        20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
        3c 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
        33 00 01 04 00 00 00 00
        3a 04 00 00 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11
        80 00 00 00 00 01 00 01
        """)),
    ("ipv6 eight dstopts + tcp", eth + hex("86dd") + hex("""
        60 00 00 00 00 54 3c 40 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
        20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
        """) + (0..<8).flatMap { i -> [UInt8] in [i == 7 ? 6 : 60, 0, 1, 4, 0, 0, 0, 0] }
        + hex("c0 00 01 bb 01 02 03 04 00 00 00 00 50 02 fa f0 00 00 00 00")),
]

@Test func seedPacketsAreValid() throws {
    // The fuzz seeds must themselves parse down to the transport layer, or the fuzzing proves little.
    for (name, p) in seeds {
        var e = Exerciser()
        GuardedBuffer(capacity: p.count).withTail(p) { e.ethernet($0) }
        #expect(e.accepted >= 2, "\(name)")
        try withPacket(p) { raw in
            let f = try EthernetFrame(raw)
            switch f.etherType {
            case EtherType.ipv4: _ = try IPv4Header(f.payload)
            case EtherType.ipv6: _ = try IPv6Header(f.payload)
            default: _ = try ARPPacket(f.payload)
            }
        }
    }
}

@Test func everyPrefixOfEverySeed() {
    let buffer = GuardedBuffer(capacity: 4096)
    var e = Exerciser()
    for (_, p) in seeds {
        for n in 0...p.count {
            let prefix = Array(p.prefix(n))
            buffer.withTail(prefix) { e.everything($0) }
            // Each IP header on its own too (without the Ethernet header in front).
            if n > 14 { buffer.withTail(Array(prefix.dropFirst(14))) { e.everything($0) } }
        }
    }
    #expect(e.accepted > 0 && e.rejected > 0)
}

@Test func seededRandomMutations() {
    var g = SplitMix64(seed: 0xF0220)
    let buffer = GuardedBuffer(capacity: 4096)
    var e = Exerciser()
    let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x3F, 0x40, 0x45, 0x4F, 0x5F, 0x60,
                                0x7F, 0x80, 0x81, 0x88, 0xA8, 0xDD, 0xF0, 0xFE, 0xFF]
    for (_, p) in seeds {
        for _ in 0..<3_000 {
            var m = p
            for _ in 0..<Int.random(in: 1...4, using: &g) {
                let at = Int.random(in: 0..<m.count, using: &g)
                m[at] = Bool.random(using: &g) ? UInt8.random(in: 0...255, using: &g)
                                               : interesting[Int.random(in: 0..<interesting.count, using: &g)]
            }
            if Int.random(in: 0..<4, using: &g) == 0 { m = Array(m.prefix(Int.random(in: 0...m.count, using: &g))) }
            buffer.withTail(m) { e.everything($0) }
            if m.count > 14 { buffer.withTail(Array(m.dropFirst(14))) { e.everything($0) } }
        }
    }
    for _ in 0..<3_000 {
        buffer.withTail(g.bytes(Int.random(in: 0...120, using: &g))) { e.everything($0) }
    }
    #expect(e.accepted > 10_000 && e.rejected > 10_000)
}

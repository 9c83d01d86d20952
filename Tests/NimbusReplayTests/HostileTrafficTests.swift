import Foundation
import NimbusDataplane
import NimbusPcap
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// Hostile traffic straight through a `Dataplane`: floods, fragments, every TCP flag combination,
/// header chains at their limits, runt frames. For each: nothing crashes, an established flow keeps
/// flowing through the attack, drops land under their specific reasons, and memory stays bounded (peak
/// RSS is printed, not asserted). Floods are generated batch by batch into the packet arena, from one
/// template frame patched in place, so no flood is ever held in memory.
///
/// Also replays every fuzzer-found input under `Tests/Regressions/` (`fuzzRegressionsStayFixed`).
@Suite(.serialized) struct HostileTrafficTests {
    // MARK: The site under attack

    /// A public-ip site: web-1 takes TCP 80 and ping from anywhere; a 64k-flow table.
    static let yaml = """
        version: 1
        name: target
        conntrack: { tcp-pickup: strict, max-flows: 65536 }
        internet: { upstream-mac: 02:00:00:00:ff:fe }
        networks:
          - name: public
            cidr: 203.0.113.0/24
            mode: public-ip
            subnets:
              - { name: web, cidr: 203.0.113.0/26 }
        security-groups:
          - name: web
            ingress:
              - { protocol: tcp, ports: 80, source: 0.0.0.0/0 }
              - { protocol: icmp, icmp-type: 8, source: 0.0.0.0/0 }
        instances:
          - { name: web-1, network: public, subnet: web, ip: 203.0.113.10, security-groups: [web] }
        """
    static let maxFlows = 65536
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let web1 = IPv4Address("203.0.113.10")!
    static let client = IPv4Address("198.51.100.20")!
    static let internet: UInt16 = 0
    static let web1Port: UInt16 = 1

    static func config() throws -> DataplaneConfig {
        try TopologyLoader.load(yaml: yaml, file: "hostile.yaml").dataplaneConfig()
    }

    /// A dataplane with one established TCP flow (client:40000 <-> web-1:80), a clock and a batch.
    struct Site: ~Copyable {
        var dataplane: Dataplane
        var batch = PacketBatch()
        var now: UInt64 = 1_700_000_000_000_000_000
        let web1MAC: MACAddress
        var seq: UInt32 = 1000

        init() throws {
            let config = try HostileTrafficTests.config()
            web1MAC = config.ports[Int(HostileTrafficTests.web1Port)].peerMAC
            dataplane = Dataplane(config: config, seed: 9)
            // The handshake of the flow that must survive every attack.
            let syn = clientFrame(flags: TCPHeader.syn)
            let synAck = serverFrame(flags: TCPHeader.syn | TCPHeader.ack)
            let ack = clientFrame(flags: TCPHeader.ack)
            let out = send([(internet, syn), (web1Port, synAck), (internet, ack)])
            #expect(out.map(\.verdict) == [.forward, .forward, .forward], "handshake: \(out)")
        }

        func clientFrame(flags: UInt8, sourcePort: UInt16 = 40000) -> [UInt8] {
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client,
                                  destination: web1, sourcePort: sourcePort, destinationPort: 80,
                                  flags: flags, payload: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        }

        func serverFrame(flags: UInt8, destinationPort: UInt16 = 40000) -> [UInt8] {
            FrameBuilder.tcpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1,
                                  destination: client, sourcePort: 80, destinationPort: destinationPort,
                                  flags: flags, payload: Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
        }

        struct Out: CustomStringConvertible {
            var verdict: Verdict
            var port: UInt16
            var drop: DropReason
            var description: String { verdict == .forward ? "forward(\(port))" : "drop(\(drop.name))" }
        }

        /// One batch of whole frames, 1 µs apart.
        mutating func send(_ frames: [(UInt16, [UInt8])]) -> [Out] {
            batch.reset()
            for (port, f) in frames {
                now += 1000
                let i = f.withUnsafeBytes { batch.append($0, timestamp: now, port: port) }
                #expect(i != nil, "batch full")
            }
            dataplane.process(&batch)
            return (0..<batch.inputCount).map { Out(verdict: batch.meta[$0].verdict, port: batch.meta[$0].outPort, drop: batch.meta[$0].drop) }
        }

        /// Floods `count` copies of `template` into `port`, 255 per batch, each patched by `patch(bytes, n)`;
        /// every batch also carries one packet of the established flow (alternating directions), which
        /// must be forwarded. Returns how many flood packets were forwarded.
        mutating func flood(_ count: Int, port: UInt16, template: [UInt8], spacing: UInt64 = 1000,
                            patch: (RawBytes, Int) -> Void) -> Int {
            let keep = [clientFrame(flags: TCPHeader.ack | TCPHeader.psh), serverFrame(flags: TCPHeader.ack | TCPHeader.psh)]
            var sent = 0, forwarded = 0, batches = 0
            var lost: [String] = []
            while sent < count {
                batch.reset()
                let k = batches & 1
                now += spacing
                _ = keep[k].withUnsafeBytes { batch.append($0, timestamp: now, port: k == 0 ? internet : web1Port) }
                var n = 0
                while n < PacketBatch.inputCapacity - 1 && sent < count {
                    now += spacing
                    guard let i = template.withUnsafeBytes({ batch.append($0, timestamp: now, port: port) }) else { break }
                    patch(batch.bytes(i), sent)
                    sent += 1
                    n += 1
                }
                dataplane.process(&batch)
                if batch.meta[0].verdict != .forward || batch.meta[0].outPort != (k == 0 ? web1Port : internet) {
                    if lost.count < 5 { lost.append("batch \(batches): \(batch.meta[0].verdict) \(batch.meta[0].drop.name)") }
                }
                for i in 1..<batch.inputCount where batch.meta[i].verdict == .forward { forwarded += 1 }
                batches += 1
            }
            #expect(lost.isEmpty, "the established flow stopped during the flood: \(lost)")
            return forwarded
        }

        func drops(_ r: DropReason) -> UInt64 { dataplane.counters.drops(r) }
        var flows: (created: UInt64, expired: UInt64, peak: Int, live: Int) { dataplane.flowStatistics }

        /// The established flow still works: one packet each way.
        mutating func expectFlowing(_ context: String) {
            let out = send([(internet, clientFrame(flags: TCPHeader.ack)), (web1Port, serverFrame(flags: TCPHeader.ack))])
            #expect(out[0].verdict == .forward && out[0].port == web1Port, "\(context): client -> web-1: \(out[0])")
            #expect(out[1].verdict == .forward && out[1].port == internet, "\(context): web-1 -> client: \(out[1])")
        }
    }

    // MARK: Memory

    /// VmHWM and VmRSS of this process in KiB (Linux), nil elsewhere.
    static func memory() -> (peak: Int, now: Int)? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = s.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
        }
        guard let p = field("VmHWM"), let n = field("VmRSS") else { return nil }
        return (p, n)
    }

    /// Runs `body` and prints the process's peak RSS before and after (other suites may run in parallel,
    /// so this bounds the flood's footprint from above).
    static func measured(_ name: String, _ body: () throws -> Void) rethrows {
        let before = memory()
        let start = Date()
        try body()
        let after = memory()
        if let before, let after {
            print("hostile: \(name): peak RSS \(before.peak / 1024) MiB -> \(after.peak / 1024) MiB (RSS now \(after.now / 1024) MiB), \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
    }

    // MARK: Patching helpers

    /// Rewrites the IPv4 source address of an Ethernet frame, patching the IP checksum and the TCP or UDP
    /// checksum (both cover the address) incrementally.
    static func setSource(_ b: RawBytes, _ address: UInt32) {
        let ip = b.suffix(from: 14)
        let old = ip.u32(12)
        ip.setU32(12, address)
        ip.setU16(10, InternetChecksum.update(ip.u16(10), old: old, new: address))
        let l4 = ip.suffix(from: Int(ip.u8(0) & 0x0F) * 4)
        switch ip.u8(9) {
        case IPProtocol.tcp where l4.count >= 20: l4.setU16(16, InternetChecksum.update(l4.u16(16), old: old, new: address))
        case IPProtocol.udp where l4.count >= 8 && l4.u16(6) != 0: l4.setU16(6, InternetChecksum.update(l4.u16(6), old: old, new: address))
        default: break
        }
    }

    /// A spoofed source: 100.64.0.0/10 (shared address space) plus n, so a million are distinct and none
    /// is the site's.
    static func spoofed(_ n: Int) -> UInt32 { 0x6440_0000 &+ UInt32(n & 0x3F_FFFF) }

    // MARK: Floods

    @Test func synFloodFromAMillionSpoofedSources() throws {
        var site = try Site()
        let template = FrameBuilder.tcpFrame(sourceMAC: Self.upstreamMAC, destinationMAC: Self.routerMAC,
                                             source: Self.client, destination: Self.web1, sourcePort: 1234,
                                             destinationPort: 80, flags: TCPHeader.syn)
        let n = 1_000_000
        var forwarded = 0
        Self.measured("SYN flood, \(n) spoofed sources, max-flows \(Self.maxFlows)") {
            forwarded = site.flood(n, port: Self.internet, template: template) { b, i in Self.setSource(b, Self.spoofed(i)) }
        }
        // One slot holds the established flow; every SYN after the table filled is ct-table-full.
        let room = Self.maxFlows - 1
        #expect(forwarded == room)
        #expect(site.drops(.ctTableFull) == UInt64(n - room))
        #expect(site.flows.peak == Self.maxFlows)
        site.expectFlowing("after the SYN flood")
        print("hostile: SYN flood: \(forwarded) SYNs admitted, \(site.drops(.ctTableFull)) ct-table-full, flow peak \(site.flows.peak)")
    }

    @Test func udpFloodToRandomPorts() throws {
        var site = try Site()
        let template = FrameBuilder.udpFrame(sourceMAC: Self.upstreamMAC, destinationMAC: Self.routerMAC,
                                             source: Self.client, destination: Self.web1, sourcePort: 5353,
                                             destinationPort: 1, payload: Array(repeating: 0x55, count: 64))
        let n = 200_000
        var random = SplitMix64(seed: 42)
        var forwarded = 0
        Self.measured("UDP flood, \(n) packets to random ports") {
            forwarded = site.flood(n, port: Self.internet, template: template) { b, i in
                let r = random.next()
                Self.setSource(b, Self.spoofed(Int(truncatingIfNeeded: r >> 32)))
                // Destination port: the UDP checksum covers it.
                let udp = b.suffix(from: 34)
                let old = udp.u16(2), new = UInt16(truncatingIfNeeded: r)
                udp.setU16(2, new)
                udp.setU16(6, InternetChecksum.update(udp.u16(6), old: old, new: new))
            }
        }
        #expect(forwarded == 0)
        #expect(site.drops(.sgIngressDenied) == UInt64(n))
        #expect(site.flows.live == 1, "denied packets must not create flows")
        site.expectFlowing("after the UDP flood")
    }

    // MARK: Fragments

    /// An IPv4 fragment (TCP by default) from `source` to web-1, built by hand: `payload` bytes at
    /// `offset` (bytes, a multiple of 8), more-fragments as given.
    static func fragment(source: IPv4Address = client, id: UInt16, offset: Int, more: Bool, protocol proto: UInt8 = IPProtocol.tcp,
                         payload: [UInt8]) -> [UInt8] {
        var ip = [UInt8](repeating: 0, count: 20)
        let total = 20 + payload.count
        ip[0] = 0x45
        ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xFF)
        ip[4] = UInt8(id >> 8); ip[5] = UInt8(id & 0xFF)
        let fo = UInt16(offset / 8) | (more ? 0x2000 : 0)
        ip[6] = UInt8(fo >> 8); ip[7] = UInt8(fo & 0xFF)
        ip[8] = 64; ip[9] = proto
        for k in 0..<4 { ip[12 + k] = UInt8(truncatingIfNeeded: source.value >> (24 - 8 * k)); ip[16 + k] = UInt8(truncatingIfNeeded: web1.value >> (24 - 8 * k)) }
        let sum = ip.withUnsafeMutableBytes { InternetChecksum.compute(RawBytes($0)) }
        ip[10] = UInt8(sum >> 8); ip[11] = UInt8(sum & 0xFF)
        return FrameBuilder.ethernet(source: upstreamMAC, destination: routerMAC, etherType: EtherType.ipv4, payload: ip + payload)
    }

    /// The first 24 bytes of a TCP SYN to port 80 (header and 4 bytes of data), as a first fragment carries it.
    static func tcpSynHeader(sourcePort: UInt16) -> [UInt8] {
        var t = [UInt8](repeating: 0, count: 24)
        t[0] = UInt8(sourcePort >> 8); t[1] = UInt8(sourcePort & 0xFF); t[3] = 80
        t[12] = 0x50; t[13] = TCPHeader.syn; t[14] = 0xFF; t[15] = 0xFF
        return t
    }

    @Test func fragmentsThatNeverComplete() throws {
        var site = try Site()
        // 200k non-first fragments of datagrams whose first fragment never came.
        let orphan = Self.fragment(id: 1, offset: 1480, more: true, payload: Array(repeating: 0xAA, count: 512))
        let n = 200_000
        var forwarded = 0
        Self.measured("\(n) orphan fragments") {
            forwarded = site.flood(n, port: Self.internet, template: orphan) { b, i in
                let ip = b.suffix(from: 14)
                let old = ip.u16(4), new = UInt16(truncatingIfNeeded: i)
                ip.setU16(4, new)
                ip.setU16(10, InternetChecksum.update(ip.u16(10), old: old, new: new))
                Self.setSource(b, Self.spoofed(i >> 16))
            }
        }
        #expect(forwarded == 0)
        #expect(site.drops(.ctFragmentUnmatched) == UInt64(n))
        // 20k first fragments (SYNs to port 80, more fragments set) whose rest never comes: each is allowed
        // and remembered in the fixed 4096-entry fragment index, which older ones are overwritten in.
        let firsts = 20_000
        let first = Self.fragment(id: 7, offset: 0, more: true, payload: Self.tcpSynHeader(sourcePort: 2000))
        let before = site.flows.live
        var admitted = 0
        Self.measured("\(firsts) first fragments never completed") {
            admitted = site.flood(firsts, port: Self.internet, template: first) { b, i in Self.setSource(b, Self.spoofed(i)) }
        }
        #expect(admitted == firsts)
        #expect(site.flows.live == before + firsts)
        site.expectFlowing("after incomplete fragments")
    }

    @Test func overlappingFragments() throws {
        var site = try Site()
        let syn = Self.tcpSynHeader(sourcePort: 3000)
        var frames: [(UInt16, [UInt8])] = [
            (Self.internet, Self.fragment(id: 99, offset: 0, more: true, payload: syn)),                 // allowed first fragment
            (Self.internet, Self.fragment(id: 99, offset: 8, more: true, payload: Array(repeating: 0xEE, count: 32))),   // overlaps its bytes 8..<24
            (Self.internet, Self.fragment(id: 99, offset: 16, more: false, payload: Array(repeating: 0xDD, count: 16))), // overlaps the previous
            (Self.internet, Self.fragment(id: 99, offset: 8, more: true, payload: Array(repeating: 0xEE, count: 32))),   // exact duplicate
            (Self.internet, Self.fragment(id: 99, offset: 0, more: true, payload: syn)),                 // duplicate first fragment
            (Self.internet, Self.fragment(id: 99, offset: 65528, more: false, payload: Array(repeating: 1, count: 8))), // ends at 65536: past the limit
        ]
        // RFC 1858 tiny fragment: a first fragment too short for the TCP flags; and an overlapping
        // first fragment that rewrites the ports of an allowed one to a denied port.
        var tiny = Self.tcpSynHeader(sourcePort: 3001); tiny.removeLast(16)
        frames.append((Self.internet, Self.fragment(id: 100, offset: 0, more: true, payload: tiny)))
        var denied = Self.tcpSynHeader(sourcePort: 3000); denied[3] = 22
        frames.append((Self.internet, Self.fragment(id: 99, offset: 0, more: true, payload: denied)))
        let out = site.send(frames)
        let allowed: Set<DropReason> = [.ctFragmentUnmatched, .malformedTCP, .malformedIPv4, .sgIngressDenied, .ctInvalid]
        for (k, o) in out.enumerated() {
            #expect(o.verdict == .forward ? o.port == Self.web1Port : allowed.contains(o.drop), "fragment \(k): \(o)")
        }
        #expect(out[0].verdict == .forward, "the first fragment of an allowed SYN passes")
        #expect(out[6].verdict == .drop && out[6].drop == .malformedTCP, "a first fragment shorter than the TCP header: \(out[6])")
        #expect(out[7].verdict == .drop && out[7].drop == .sgIngressDenied, "an overlapping first fragment to a denied port: \(out[7])")
        print("hostile: overlapping fragments: \(out)")
        site.expectFlowing("after overlapping fragments")
    }

    // MARK: TCP flags

    @Test func everyTCPFlagCombination() throws {
        var site = try Site()
        var results: [UInt8: [Site.Out]] = [:]
        for f in 0...255 {
            let flags = UInt8(f)
            let port = UInt16(10_000 + f)
            // Without a flow: only a SYN opens one (strict pickup).
            let cold = site.send([(Self.internet, site.clientFrame(flags: flags, sourcePort: port))])[0]
            // On a fresh established flow (its own ports): whatever the flags, it is decided.
            let hotPort = UInt16(20_000 + f)
            let hs = site.send([
                (Self.internet, site.clientFrame(flags: TCPHeader.syn, sourcePort: hotPort)),
                (Self.web1Port, site.serverFrame(flags: TCPHeader.syn | TCPHeader.ack, destinationPort: hotPort)),
                (Self.internet, site.clientFrame(flags: TCPHeader.ack, sourcePort: hotPort)),
            ])
            let hot = site.send([(Self.internet, site.clientFrame(flags: flags, sourcePort: hotPort)),
                                 (Self.web1Port, site.serverFrame(flags: flags, destinationPort: hotPort))])
            results[flags] = [cold] + hs + hot
            // A SYN opens a flow unless ACK, RST or FIN come with it (SYN+FIN is a scanner's probe).
            let opens = flags & TCPHeader.syn != 0 && flags & (TCPHeader.ack | TCPHeader.rst | TCPHeader.fin) == 0
            if opens {
                #expect(cold.verdict == .forward, "flags \(flags) without a flow: \(cold)")
            } else {
                #expect(cold.verdict == .drop && cold.drop == .ctInvalid, "flags \(flags) without a flow: \(cold)")
            }
            #expect(hs.allSatisfy { $0.verdict == .forward } || opens, "handshake before flags \(flags): \(hs)")
            for o in hot where o.verdict == .drop {
                #expect([.ctInvalid].contains(o.drop), "flags \(flags) on a flow: \(o)")
            }
        }
        let forwardedCold = results.values.filter { $0[0].verdict == .forward }.count
        #expect(forwardedCold == 16)
        print("hostile: TCP flags: \(forwardedCold) of 256 combinations open a flow; ct-invalid \(site.drops(.ctInvalid))")
        site.expectFlowing("after every flag combination")
    }

    // MARK: Header chains at their limits

    @Test func ipv4OptionsAtTheLimit() throws {
        var site = try Site()
        func withOptions(_ options: [UInt8], totalAdjust: Int = 0) -> [UInt8] {
            precondition(options.count % 4 == 0 && options.count <= 40)
            var f = site.clientFrame(flags: TCPHeader.syn, sourcePort: UInt16(30_000 + options.count + totalAdjust & 0xFF))
            let ihl = (20 + options.count) / 4
            f.insert(contentsOf: options, at: 34)
            f[14] = 0x40 | UInt8(ihl)
            let total = Int(f.u16(16)) + options.count + totalAdjust
            f[16] = UInt8((total >> 8) & 0xFF); f[17] = UInt8(total & 0xFF)
            f[24] = 0; f[25] = 0
            let sum = f.withUnsafeMutableBytes { InternetChecksum.compute(RawBytes($0).slice(14, 4 * ihl)!) }
            f[24] = UInt8(sum >> 8); f[25] = UInt8(sum & 0xFF)
            return f
        }
        let cases: [(String, [UInt8], Int)] = [
            ("40 bytes of NOPs", Array(repeating: 1, count: 40), 0),
            ("end of list then garbage", [0] + Array(repeating: 0xFF, count: 39), 0),
            ("record route, full", [7, 39, 40] + Array(repeating: 0, count: 36) + [0], 0),
            ("record route, pointer past the end", [7, 39, 255] + Array(repeating: 0, count: 36) + [0], 0),
            ("option length 0", [0x44, 0, 0, 0] + Array(repeating: 1, count: 36), 0),
            ("option length 255", [0x83, 255] + Array(repeating: 0, count: 38), 0),
            ("timestamp, overflowed", [0x44, 40, 41, 0xF1] + Array(repeating: 0, count: 36), 0),
            ("header longer than the datagram", Array(repeating: 1, count: 40), -40 - 24 - 20 + 1),
        ]
        for (name, options, adjust) in cases {
            let out = site.send([(Self.internet, withOptions(options, totalAdjust: adjust))])[0]
            if adjust == 0 {
                #expect(out.verdict == .forward || out.drop == .malformedIPv4, "\(name): \(out)")
                if out.verdict == .forward {
                    let b = site.batch.bytes(0)
                    #expect(IPv4Header(unchecked: b.suffix(from: 14)).isHeaderChecksumValid, "\(name): checksum after forwarding")
                }
            } else {
                #expect(out.verdict == .drop && out.drop == .malformedIPv4, "\(name): \(out)")
            }
            print("hostile: IPv4 options, \(name): \(out)")
        }
        site.expectFlowing("after IPv4 options")
    }

    @Test func ipv6ExtensionChainsAtTheLimit() throws {
        var site = try Site()
        /// An IPv6 packet from the internet to 2001:db8::10 with the given extension headers
        /// (next-header values), each 8 bytes (fragment: 8; others: length 0), then 8 bytes of UDP.
        func ipv6(_ chain: [UInt8], lastExtensionLength: Int = 0, truncate: Int = 0) -> [UInt8] {
            var body: [UInt8] = []
            for (k, h) in chain.enumerated() {
                let next = k + 1 < chain.count ? chain[k + 1] : IPProtocol.udp
                var e = [UInt8](repeating: 0, count: 8)
                e[0] = next
                if h != 44 && k == chain.count - 1 {
                    e[1] = UInt8(lastExtensionLength)
                    e += [UInt8](repeating: 1, count: h == 51 ? lastExtensionLength * 4 : lastExtensionLength * 8)
                }
                body += e
            }
            body += [0x13, 0x88, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]
            body.removeLast(min(truncate, body.count))
            var h = [UInt8](repeating: 0, count: 40)
            h[0] = 0x60
            h[4] = UInt8(body.count >> 8); h[5] = UInt8(body.count & 0xFF)
            h[6] = chain.first ?? IPProtocol.udp; h[7] = 64
            h[8] = 0x20; h[9] = 0x01; h[10] = 0x0d; h[11] = 0xb8; h[23] = 1
            h[24] = 0x20; h[25] = 0x01; h[26] = 0x0d; h[27] = 0xb8; h[39] = 0x10
            return FrameBuilder.ethernet(source: Self.upstreamMAC, destination: Self.routerMAC, etherType: EtherType.ipv6, payload: h + body)
        }
        let eight: [UInt8] = [0, 60, 43, 44, 51, 60, 43, 60]
        let cases: [(String, [UInt8], DropReason)] = [
            ("8 extension headers (the limit)", ipv6(eight), .ipv6NotRouted),
            ("9 extension headers", ipv6(eight + [60]), .malformedIPv6),
            ("100 extension headers", ipv6(Array(repeating: 60, count: 100)), .malformedIPv6),
            ("two fragment headers", ipv6([44, 44]), .malformedIPv6),
            ("hop-by-hop of 2048 bytes", ipv6([0], lastExtensionLength: 255), .ipv6NotRouted),
            ("AH of 1028 bytes", ipv6([51], lastExtensionLength: 255), .ipv6NotRouted),
            ("extension header cut short", ipv6([0, 60], lastExtensionLength: 3, truncate: 20), .malformedIPv6),
            ("payload length past the frame", Array(ipv6([0]).dropLast(4)), .malformedIPv6),
        ]
        for (name, frame, reason) in cases {
            let out = site.send([(Self.internet, frame)])[0]
            #expect(out.verdict == .drop && out.drop == reason, "\(name): \(out)")
        }
        site.expectFlowing("after IPv6 chains")
    }

    // MARK: Runts

    @Test func zeroLengthAndTruncatedFrames() throws {
        var site = try Site()
        let full = site.clientFrame(flags: TCPHeader.syn, sourcePort: 41000)
        var tagged = full
        tagged.insert(contentsOf: [0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06], at: 12)
        // Every prefix of a TCP SYN frame, from 0 bytes up.
        var frames: [(UInt16, [UInt8])] = (0..<full.count).map { (Self.internet, Array(full.prefix($0))) }
        frames.append((Self.internet, tagged))
        let out = site.send(frames)
        for (n, o) in out.enumerated() {
            let expected: DropReason
            switch n {
            case ..<14: expected = .malformedFrame
            case ..<34: expected = .malformedIPv4
            case full.count: expected = .unsupportedL2
            default: expected = .malformedIPv4  // the IPv4 total length runs past the frame
            }
            #expect(o.verdict == .drop && o.drop == expected, "\(n) bytes: \(o)")
        }
        // A truncated TCP header under a consistent IPv4 header.
        var short = Array(full.prefix(14 + 20 + 12))
        short[16] = 0; short[17] = 32; short[24] = 0; short[25] = 0
        let sum = short.withUnsafeMutableBytes { InternetChecksum.compute(RawBytes($0).slice(14, 20)!) }
        short[24] = UInt8(sum >> 8); short[25] = UInt8(sum & 0xFF)
        let o = site.send([(Self.internet, short)])[0]
        #expect(o.verdict == .drop && o.drop == .malformedTCP, "12-byte TCP header: \(o)")
        site.expectFlowing("after runts")
    }

    @Test func zeroLengthAndTruncatedRecordsInAReplay() throws {
        // The same through the whole replay: a capture of runts (written with a hand-made header, since
        // writers refuse nothing) replays, every record counted.
        let dir = makeTempDirectory("nimbus-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = FrameBuilder.tcpFrame(sourceMAC: Self.upstreamMAC, destinationMAC: Self.routerMAC, source: Self.client,
                                         destination: Self.web1, sourcePort: 1, destinationPort: 80, flags: TCPHeader.syn)
        let frames = (0...full.count).map { (UInt64(1_700_000_000_000_000_000) + UInt64($0) * 1000, Array(full.prefix($0))) }
        try writePcap(dir + "/in.pcap", frames)
        let topo = dir + "/t.yaml"
        try Self.yaml.write(toFile: topo, atomically: true, encoding: .utf8)
        let config = try TopologyLoader.load(path: topo).dataplaneConfig()
        var options = ReplayOptions(inputs: [("internet", dir + "/in.pcap")], outputDirectory: dir + "/out")
        options.seed = 1
        let report = try Replay.run(config: config, options: options, traceOutput: { _ in })
        #expect(report.counters.packetsIn == UInt64(frames.count))
        #expect(report.counters.drops(.malformedFrame) == 14)
        #expect(report.counters.packetsOut == 1)
    }

    // MARK: Fuzzer regressions

    /// Every input the fuzzers saved under Tests/Regressions/TARGET/ goes through what that target
    /// exercised; none may crash (a crash here takes the test process down, which fails the suite).
    @Test func fuzzRegressionsStayFixed() throws {
        let root = Repo.path("Tests/Regressions")
        let fm = FileManager.default
        var replayed = 0
        for target in ["wire", "pipeline", "capture", "topology"] {
            let dir = root + "/" + target
            let names = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted()
            for name in names {
                let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
                switch target {
                case "wire": Regression.wire(data)
                case "pipeline": try Regression.pipeline(data)
                case "capture": Regression.capture(dir + "/" + name)
                default: Regression.topology(data, name: name)
                }
                replayed += 1
            }
        }
        print("hostile: replayed \(replayed) fuzzer regression inputs")
    }
}

/// In-process equivalents of the fuzz targets in Fuzz/ (without libFuzzer), for the regression inputs.
enum Regression {
    static func wire(_ data: [UInt8]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: data)
        let b = RawBytes(buffer)
        var sink: UInt64 = 0
        if let e = try? EthernetFrame(b) {
            sink &+= e.source.value &+ UInt64(e.etherType)
            let p = e.payload
            if let a = try? ARPPacket(p) { sink &+= UInt64(a.senderIP.value) }
            if let h = try? IPv4Header(p) { sink &+= UInt64(l4(h.protocol, h.payload)) &+ UInt64(h.options.count) }
            if let h = try? IPv6Header(p) { sink &+= UInt64(l4(h.upperProtocol, h.upperPayload)) }
        }
        if let h = try? IPv4Header(b) { sink &+= UInt64(l4(h.protocol, h.payload)) }
        if let h = try? IPv6Header(b) { sink &+= UInt64(l4(h.upperProtocol, h.upperPayload)) }
        sink &+= UInt64(l4(IPProtocol.tcp, b)) &+ UInt64(l4(IPProtocol.udp, b)) &+ UInt64(l4(IPProtocol.icmp, b))
        _ = sink
    }

    static func l4(_ proto: UInt8, _ b: RawBytes) -> Int {
        switch proto {
        case IPProtocol.tcp:
            guard let t = try? TCPHeader(b) else { return 0 }
            var it = TCPOptionIterator(t.options)
            var n = 0
            while let o = try? it.next() { n += o.data.count + 1 }
            return n + t.payload.count + Int(t.flags)
        case IPProtocol.udp:
            guard let u = try? UDPHeader(b) else { return 0 }
            return u.payload.count + Int(u.destinationPort)
        case IPProtocol.icmp:
            guard let i = try? ICMPHeader(b) else { return 0 }
            return i.body.count + Int(i.type)
        default: return 0
        }
    }

    /// Same input format as Fuzz/Sources/FuzzPipeline: port byte, frame, FE ED FA CE, port byte, frame...
    static func pipeline(_ data: [UInt8]) throws {
        guard !data.isEmpty else { return }
        var list: [(UInt8, [UInt8])] = []
        var port = data[0], start = 1, i = 1
        while i + 4 <= data.count {
            if data[i] == 0xFE && data[i + 1] == 0xED && data[i + 2] == 0xFA && data[i + 3] == 0xCE {
                list.append((port, Array(data[start..<i])))
                if i + 4 >= data.count { start = data.count; break }
                port = data[i + 4]; start = i + 5; i = start
            } else { i += 1 }
        }
        if start <= data.count { list.append((port, Array(data[min(start, data.count)...]))) }
        let dir = Repo.path("Topologies")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix(".yaml") }).sorted() {
            var config = try TopologyLoader.load(path: dir + "/" + file).dataplaneConfig()
            if config.firewall != nil { config.firewall!.maxFlows = min(config.firewall!.maxFlows, 64) }
            var dataplane = Dataplane(config: config, seed: 1)
            var batch = PacketBatch()
            var now: UInt64 = 1_700_000_000_000_000_000
            for (p, frame) in list {
                now += p & 0x80 != 0 ? 301_000_000_000 : 1_000_000
                if !batch.canAppend(length: frame.count) { dataplane.process(&batch); batch.reset() }
                _ = frame.withUnsafeBytes { batch.append($0, timestamp: now, port: UInt16(Int(p & 0x7F) % config.ports.count)) }
            }
            dataplane.process(&batch)
            for k in 0..<batch.count { #expect(batch.meta[k].verdict != .pending) }
        }
    }

    static func capture(_ path: String) {
        guard let reader = try? CaptureReader(path: path) else { return }
        while let r = try? reader.next() { _ = r.bytes.reduce(0, &+) }
    }

    static func topology(_ data: [UInt8], name: String) {
        do {
            _ = try TopologyLoader.load(yaml: String(decoding: data, as: UTF8.self), file: name).dataplaneConfig()
        } catch {
            #expect(!error.diagnostics.isEmpty)
            for d in error.diagnostics { #expect(d.line >= 1 && d.column >= 1, "\(d)") }
        }
    }
}

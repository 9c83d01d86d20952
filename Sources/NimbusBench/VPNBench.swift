import Crypto
import Foundation
import NimbusDataplane
import NimbusVPN
import NimbusWire

/// `nimbus bench --scenario vpn`: the tunnel's cost. A WireGuard peer played in memory (its key replaces
/// the topology's first peer key, so the handshake can complete) brings a session up; then two timed
/// phases run through the whole dataplane, routing included:
/// - **seal**: an instance of the tunnel's network sends to the peer's allowed-ips; every packet is
///   encrypted in place and leaves as a WireGuard transport datagram;
/// - **open**: the peer's transport datagrams (sealed untimed, before each repetition) are decrypted,
///   their source checked against the allowed-ips, and delivered to the instance.
/// In the same run, swift-crypto's ChaCha20-Poly1305 seals and opens the same number of bytes with no
/// dataplane around it: the baseline the phases are compared with. Security groups and connection
/// tracking are left out (the scenario measures the tunnel, as `route` measures routing).
public enum VPNBench {
    /// One timed figure: packets per second and inner (plaintext) bits per second.
    public struct Figure: Sendable {
        public var mpps: Double
        /// Gigabits per second of inner packets (what the tunnel carries).
        public var gbps: Double
        public var nsPerPacket: Double
        public var repetitions: [Double]
    }

    public struct Result: Sendable {
        public var options: BenchOptions
        public var topologyName: String
        public var tunnel: String
        public var instance: String
        public var innerBytes: Int
        public var seal: Figure
        public var open: Figure
        public var rawSeal: Figure
        public var rawOpen: Figure
        /// Heap allocations per packet in an untimed counting pass of each phase (nil: not measurable here).
        public var sealAllocations: Double?
        public var openAllocations: Double?
        public var cpuModel: String
    }

    public static func run(config: DataplaneConfig, options: BenchOptions) throws(BenchError) -> Result {
        guard options.threads == 1 else {
            throw BenchError("--threads \(options.threads): the vpn scenario runs one worker (give --threads 1)", badInput: true)
        }
        guard let t = config.vpnTunnels.firstIndex(where: { !$0.peers.isEmpty && !$0.peers[0].allowedIPs.isEmpty }),
              let port = config.ports.indices.dropFirst().first(where: { config.ports[$0].network == config.vpnTunnels[t].network })
        else {
            throw BenchError("no tunnel to measure: \(config.name) needs a vpn tunnel with a peer and allowed-ips, and an "
                             + "instance in the tunnel's network", badInput: true)
        }
        var run = config
        run.firewall = nil
        var random = NimbusVPN.SeededRandom(seed: 0xB0B)
        let peerKey = WireGuardKey.generatePrivate(using: &random)
        let tunnel = config.vpnTunnels[t]
        let peerEndpoint = tunnel.peers[0].endpoint ?? WireGuardEndpoint(address: IPv4Address("192.0.2.200")!, port: 51820)
        run.vpnTunnels[t].peers[0].publicKey = peerKey.publicKey
        run.vpnTunnels[t].peers[0].endpoint = peerEndpoint
        run.vpnTunnels[t].peers[0].persistentKeepalive = nil
        let instance = config.ports[port]
        let network = config.networks[instance.network].cidr
        var peer = WireGuardInterface(privateKey: peerKey, peers: [
            WireGuardPeerConfig(publicKey: tunnel.privateKey.publicKey, presharedKey: tunnel.peers[0].presharedKey,
                                endpoint: tunnel.listen, allowedIPs: [network]),
        ], random: NimbusVPN.SeededRandom(seed: 0xFEED))
        let remote = tunnel.peers[0].allowedIPs[0]
        // Inner packets: IPv4 + UDP, as long as a frame of --size would carry, capped by the tunnel MTU.
        let inner = min(options.frameLength - EthernetFrame.headerLength, tunnel.mtu)
        guard inner >= 28 else { throw BenchError("--size \(options.size): too small for an IPv4/UDP packet", badInput: true) }

        var dataplane = Dataplane(config: run, seed: 7)
        var batch = PacketBatch()
        var now = BenchClock.baseTimestamp
        func outer(_ bytes: [UInt8]) -> [UInt8] {
            FrameBuilder.udpFrame(sourceMAC: config.upstreamMAC, destinationMAC: config.routerMAC, source: peerEndpoint.address,
                                  destination: tunnel.listen.address, sourcePort: peerEndpoint.port,
                                  destinationPort: tunnel.listen.port, payload: bytes)
        }
        /// Pushes frames through as one batch; returns what left, in order.
        func push(_ frames: [(UInt16, [UInt8])]) -> [[UInt8]] {
            for (p, f) in frames { _ = f.withUnsafeBytes { batch.append($0, timestamp: now, port: p) } }
            dataplane.process(&batch)
            var order: [Int] = []
            batch.emissionOrder(into: &order)
            let out = order.filter { batch.meta[$0].verdict == .forward }.map { batch.bytes($0).array }
            batch.reset()
            return out
        }

        // The handshake: the peer initiates, the dataplane answers, the peer's first message confirms.
        guard let initiation = peer.initiateHandshake(peer: 0, now: now),
              let response = push([(0, outer(initiation.bytes))]).first, response.count > 42 else {
            throw BenchError("the tunnel did not answer a handshake", badInput: false)
        }
        var responsePayload = Array(response[42...])
        guard case .handshakeComplete = peer.receive(datagram: &responsePayload, from: tunnel.listen, now: now) else {
            throw BenchError("the tunnel's handshake response did not verify", badInput: false)
        }
        for d in peer.keepalive(peer: 0, now: now) { _ = push([(0, outer(d.bytes))]) }

        let flows = max(1, min(options.flows, 60_000))
        func innerPacket(_ i: Int, toInstance: Bool) -> [UInt8] {
            let far = IPv4Address(value: remote.network.value &+ UInt32(1 + i % max(1, Int(min(UInt64(1) << (32 - remote.prefixLength), 1 << 16)) - 2)))
            let (src, dst) = toInstance ? (far, instance.ip) : (instance.ip, far)
            let udp = FrameBuilder.udp(source: src, destination: dst, sourcePort: UInt16(1024 + i % 60_000), destinationPort: 5000,
                                       payload: [UInt8](repeating: 0xA5, count: inner - 28))
            return FrameBuilder.ipv4(source: src, destination: dst, protocol: IPProtocol.udp, dontFragment: true, payload: udp)
        }
        // Seal: frames from the instance, copied into batches as a NIC would.
        let sealPool = FramePool(frameLength: EthernetFrame.headerLength + inner, count: flows)
        for i in 0..<flows {
            let ip = innerPacket(i, toInstance: false)
            sealPool.set(i, FrameBuilder.ethernet(source: instance.peerMAC, destination: config.routerMAC,
                                                  etherType: EtherType.ipv4, payload: ip), port: UInt16(port))
        }
        let check = push([(UInt16(port), Array(sealPool.frame(0)))])
        guard check.count == 1, check[0].count > 42, check[0][42] == WireGuardMessage.transportType else {
            throw BenchError("the dataplane did not seal the benchmark traffic into \(tunnel.name)", badInput: false)
        }

        let perRepetition = options.packets ?? 65_536
        var sealRates: [Double] = [], openRates: [Double] = [], rawSealRates: [Double] = [], rawOpenRates: [Double] = []
        var histogram = LatencyRecorder()
        let openLength = EthernetFrame.headerLength + 20 + 8 + WireGuardInterface.sealedSize(plaintextCount: inner)
        let openPool = FramePool(frameLength: openLength, count: perRepetition)
        let key = SymmetricKey(size: .bits256)
        let plain = [UInt8](repeating: 0xA5, count: inner)
        for _ in 0..<options.repetitions {
            var cursor = 0
            let batches = max(1, perRepetition / PacketBatch.inputCapacity)
            let ns = Pump.run(&dataplane, &batch, sealPool, cursor: &cursor, batches: batches, timestamp: &now,
                              histogram: &histogram)
            sealRates.append(Double(batches * PacketBatch.inputCapacity) / Double(max(1, ns)) * 1e3)

            // Open: fresh datagrams from the peer each repetition (counters never repeat), sealed untimed.
            for i in 0..<perRepetition {
                let (_, d) = peer.send(plaintext: innerPacket(i, toInstance: true), toPeer: 0, now: now)
                openPool.set(i, outer(d!.bytes), port: 0)
            }
            let openNs = Pump.once(&dataplane, &batch, openPool, count: perRepetition, timestamp: &now, histogram: &histogram)
            openRates.append(Double(perRepetition) / Double(max(1, openNs)) * 1e3)

            // The baseline: swift-crypto alone, the same plaintext size and count, nothing kept (a kept box
            // per packet would charge page faults to the baseline).
            var checksum = 0
            let sealStart = BenchClock.now()
            for i in 0..<perRepetition {
                let box = try! ChaChaPoly.seal(plain, using: key, nonce: WireGuardAEAD.nonce(UInt64(i)))
                checksum &+= Int(box.tag.first ?? 0)
            }
            let sealEnd = BenchClock.now()
            let box = try! ChaChaPoly.seal(plain, using: key, nonce: WireGuardAEAD.nonce(0))
            var opened = 0
            for _ in 0..<perRepetition { opened &+= (try! ChaChaPoly.open(box, using: key)).count }
            let openEnd = BenchClock.now()
            precondition(opened == perRepetition * inner && checksum >= 0)
            rawSealRates.append(Double(perRepetition) / Double(max(1, sealEnd - sealStart)) * 1e3)
            rawOpenRates.append(Double(perRepetition) / Double(max(1, openEnd - sealEnd)) * 1e3)
        }
        // Untimed counting passes: heap allocations per packet through the whole pipeline.
        var sealAllocations: Double? = nil, openAllocations: Double? = nil
        if AllocationCounter.isAvailable {
            var cursor = 0
            AllocationCounter.start()
            _ = Pump.run(&dataplane, &batch, sealPool, cursor: &cursor, batches: 16, timestamp: &now, histogram: &histogram)
            sealAllocations = Double(AllocationCounter.stop()) / Double(16 * PacketBatch.inputCapacity)
            let count = min(perRepetition, 16 * PacketBatch.inputCapacity)
            for i in 0..<count {
                let (_, d) = peer.send(plaintext: innerPacket(i, toInstance: true), toPeer: 0, now: now)
                openPool.set(i, outer(d!.bytes), port: 0)
            }
            AllocationCounter.start()
            _ = Pump.once(&dataplane, &batch, openPool, count: count, timestamp: &now, histogram: &histogram)
            openAllocations = Double(AllocationCounter.stop()) / Double(count)
        }
        guard dataplane.counters.ports[port].outPackets >= UInt64(perRepetition * options.repetitions) else {
            throw BenchError("the dataplane did not deliver the decrypted traffic to \(instance.name)", badInput: false)
        }
        func figure(_ rates: [Double]) -> Figure {
            let sorted = rates.sorted()
            let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            return Figure(mpps: median, gbps: median * 1e6 * Double(inner) * 8 / 1e9,
                          nsPerPacket: median > 0 ? 1000 / median : 0, repetitions: rates)
        }
        return Result(options: options, topologyName: config.name, tunnel: tunnel.name, instance: instance.name,
                      innerBytes: inner, seal: figure(sealRates), open: figure(openRates), rawSeal: figure(rawSealRates),
                      rawOpen: figure(rawOpenRates), sealAllocations: sealAllocations, openAllocations: openAllocations,
                      cpuModel: SystemInfo.cpuModel)
    }
}

extension VPNBench.Result {
    public var text: String {
        var lines = ["nimbus bench: \(topologyName), scenario vpn, 1 thread, tunnel \(tunnel), \(innerBytes)-byte inner packets "
                     + "to and from \(instance)", ""]
        lines.append(pad("phase", 26) + lpad("Mpps", 9) + lpad("Gbit/s", 9) + lpad("ns/packet", 11) + lpad("vs raw", 9))
        func row(_ name: String, _ f: VPNBench.Figure, _ base: VPNBench.Figure?) {
            let ratio = base.map { $0.mpps > 0 ? fixed(f.mpps / $0.mpps, 2) : "-" } ?? ""
            lines.append(pad(name, 26) + lpad(fixed(f.mpps, 3), 9) + lpad(fixed(f.gbps, 3), 9)
                         + lpad(fixed(f.nsPerPacket, 1), 11) + lpad(ratio, 9))
        }
        row("seal (instance -> tunnel)", seal, rawSeal)
        row("open (tunnel -> instance)", open, rawOpen)
        row("swift-crypto seal alone", rawSeal, nil)
        row("swift-crypto open alone", rawOpen, nil)
        lines.append("")
        lines.append("Gbit/s of inner packets; medians of \(options.repetitions) repetitions; the raw ChaCha20-Poly1305 rows "
                     + "ran in the same process between the phases")
        if let s = sealAllocations, let o = openAllocations {
            lines.append("heap allocations per packet (untimed counting pass): seal \(fixed(s, 3)), open \(fixed(o, 3))")
        }
        lines.append("machine: \(cpuModel)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// What `--json` prints, as a value.
    public var document: VPNBenchJSON {
        func figure(_ f: VPNBench.Figure) -> VPNBenchJSON.Figure {
            VPNBenchJSON.Figure(mpps: decimalRounded(f.mpps, 4), gbps: decimalRounded(f.gbps, 4),
                                nsPerPacket: decimalRounded(f.nsPerPacket, 2),
                                repetitionsMpps: f.repetitions.map { decimalRounded($0, 4) })
        }
        return VPNBenchJSON(
            scenario: "vpn", threads: 1, size: options.size, flows: options.flows,
            established: figure(seal), newFlows: figure(seal), open: figure(open), rawSeal: figure(rawSeal),
            rawOpen: figure(rawOpen),
            sealVsRaw: decimalRounded(rawSeal.mpps > 0 ? seal.mpps / rawSeal.mpps : 0, 3),
            openVsRaw: decimalRounded(rawOpen.mpps > 0 ? open.mpps / rawOpen.mpps : 0, 3),
            allocationsPerPacket: .init(seal: sealAllocations.map { decimalRounded($0, 3) },
                                        open: openAllocations.map { decimalRounded($0, 3) }),
            innerBytes: innerBytes, topology: topologyName, tunnel: tunnel,
            gbpsBasis: "inner packets (what the tunnel carries)",
            newFlowsBasis: "the tunnel keeps no per-flow state: new flows cost what established ones do",
            cpuModel: cpuModel)
    }

    /// One JSON object on one line (`document`, keys sorted).
    public var json: String { jsonLine(document) }
}

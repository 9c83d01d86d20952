import Foundation
import NimbusDataplane
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// `Dataplane.reset()`: a dataplane that has carried traffic and is reset behaves, byte for byte, as a
/// new one — what lets the fuzz targets reuse one dataplane per topology across inputs.
@Suite struct ResetTests {
    /// Everything observable of a run: each packet's verdict, port, reason and bytes, then the figures.
    struct Outcome: Equatable {
        var packets: [String] = []
        var figures: [String] = []
    }

    /// The example captures of a topology, as (timestamp, port, frame) in timestamp order.
    static func exampleInputs(_ name: String, _ config: DataplaneConfig) throws -> [(UInt64, UInt16, [UInt8])] {
        let dir = Repo.path("Topologies")
        var out: [(UInt64, UInt16, [UInt8])] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        where file.hasPrefix(name + ".") && file.hasSuffix(".pcap") {
            // Multi-site captures are named TOPOLOGY.SITE-PORT.pcap.
            var portName = String(file.dropFirst(name.count + 1).dropLast(5))
            if config.port(named: portName) == nil && portName.hasPrefix(config.name + "-") {
                portName = String(portName.dropFirst(config.name.count + 1))
            }
            guard let port = config.port(named: portName) else { continue }
            for r in try readPcap(dir + "/" + file) { out.append((r.timestamp, port, r.bytes)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    static func run(_ dataplane: inout Dataplane, _ inputs: [(UInt64, UInt16, [UInt8])], shift: UInt64 = 0) -> Outcome {
        var outcome = Outcome()
        var batch = PacketBatch()
        func flush(_ dataplane: inout Dataplane) {
            dataplane.process(&batch)
            for i in 0..<batch.count {
                let m = batch.meta[i]
                outcome.packets.append("\(m.verdict) \(m.outPort) \(m.drop.name) \(batch.bytes(i).array)")
            }
            batch.reset()
        }
        for (t, port, frame) in inputs {
            if !batch.canAppend(length: frame.count) { flush(&dataplane) }
            _ = frame.withUnsafeBytes { batch.append($0, timestamp: t + shift, port: port) }
        }
        flush(&dataplane)
        if let last = inputs.last { dataplane.advanceClock(to: last.0 + shift + 400_000_000_000) }
        let c = dataplane.counters
        outcome.figures = ["\(c.packetsIn) \(c.packetsOut) \(c.packetsDropped) \(c.packetsConsumed) \(c.drops) \(c.ports)",
                           "\(dataplane.flowStatistics)", "\(dataplane.natStatistics)",
                           "\(dataplane.loadBalancerTargets.map { "\($0.lb) \($0.port) \($0.health) \($0.counters)" })",
                           "\(dataplane.vpnStatistics.map { "\($0.name) \($0.stats) \($0.peers.map { "\($0.status)" })" })"]
        return outcome
    }

    @Test(arguments: ["public-ip", "security-groups", "nat-private", "load-balancer", "vpn-site-to-site"])
    func aResetDataplaneBehavesAsANewOne(name: String) throws {
        let config = try TopologyLoader.load(path: Repo.path("Topologies/\(name).yaml")).dataplaneConfig()
        let inputs = try Self.exampleInputs(name, config)
        #expect(inputs.count >= 8)
        var fresh = Dataplane(config: config, seed: 3)
        let expected = Self.run(&fresh, inputs)
        #expect(expected.packets.count >= inputs.count)

        // The same traffic an hour later first (flows, mappings, sessions, counters, targets' health),
        // then a reset: the replay must not see any of it.
        var reused = Dataplane(config: config, seed: 3)
        let before = Self.run(&reused, inputs, shift: 3_600_000_000_000)
        #expect(before.figures != Outcome().figures)
        for lb in config.loadBalancers.indices {
            for t in config.loadBalancers[lb].listeners.flatMap(\.targets) {
                reused.setTargetHealth(loadBalancer: lb, port: t.port, .down)
            }
        }
        reused.reset()
        let again = Self.run(&reused, inputs)
        #expect(again.figures == expected.figures)
        #expect(again.packets.count == expected.packets.count)
        for (k, (a, b)) in zip(again.packets, expected.packets).enumerated() where a != b {
            Issue.record("\(name): packet \(k) differs after reset:\n  \(a)\n  \(b)")
            break
        }
    }
}

// Micro-benchmarks of Nimbus's hot path, with malloc counts as thresholds: every benchmark here must
// run without a heap allocation per iteration (Thresholds/*.p90.json hold 0 mallocs, with no tolerance),
// so `swift package benchmark thresholds check` fails when a change allocates on the hot path.
//
// Each iteration does `scalingFactor` units of work (one checksum update, one parse, one lookup, one
// classification, or one 256-packet batch); the text output scaled with `--scale` gives time per unit.
import Benchmark
import NimbusDataplane
import NimbusTopology
import NimbusWire

#if canImport(Glibc)
import Glibc
#endif

/// The repository root: four levels above this file.
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)
    return parts.joined(separator: "/")
}()

/// No mallocs at all, at every percentile.
let noAllocations = BenchmarkThresholds(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0])

/// A flow table filled with `count` keys (a class, so the benchmark closures can share the `~Copyable` table).
final class TableFixture: @unchecked Sendable {
    var table: FlowTable<FlowKey, FlowEntry>
    init(capacity: Int, keys: UnsafeMutablePointer<FlowKey>, count: Int) {
        table = FlowTable(capacity: capacity, wheelSlots: 8192)
        for f in 0..<count { _ = table.insert(keys[f], FlowEntry(key: keys[f]), deadline: 1_000_000_000_000) }
    }
}

/// A dataplane of `Topologies/security-groups.yaml` with `flows` established TCP flows (internet clients
/// from 198.18.0.0/15 to web-1:443, as `nimbus bench` sends) and their data frames, both directions.
final class PipelineFixture {
    var dataplane: Dataplane
    var batch: PacketBatch
    let frames: UnsafeMutableRawPointer
    let ports: [UInt16]
    let frameLength = 60
    let stride = 64
    let count: Int
    var cursor = 0
    var timestamp: UInt64 = 1_700_000_000 * 1_000_000_000

    /// `nat`: `Topologies/nat-private.yaml` instead, app-1's TCP flows to 198.18.0.1:443 out through the
    /// NAT gateway (each a mapping; the gateway keeps the source port) and the server's replies to it.
    init(flows: Int, routeOnly: Bool = false, nat: Bool = false) {
        let topology = try! TopologyLoader.load(path: repositoryRoot + (nat ? "/Topologies/nat-private.yaml" : "/Topologies/security-groups.yaml"))
        var config = topology.dataplaneConfig()
        config.firewall?.maxFlows = flows
        if routeOnly {
            config.firewall = nil
            config.networkACLs = []
            for i in config.subnets.indices { config.subnets[i].networkACL = nil }
        }
        // The dataplane ports client packets and server packets enter on.
        let web = nat ? UInt16(0) : config.port(named: "web-1")!
        let clientPort = nat ? config.port(named: "app-1")! : UInt16(0)
        let app = config.ports[Int(clientPort)]
        let natAddress = nat ? NATStage.pairedAddress(for: app.ip, pool: config.natGateways[0].publicIPs, seed: 0) : app.ip
        let server = config.ports[Int(web)]
        let client = config.ports[0]
        func frame(_ f: Int, toServer: Bool, flags: UInt8, payload: Int) -> [UInt8] {
            let port = UInt16(1024 + f % 60000)
            let data = [UInt8](repeating: 0xA5, count: payload)
            if nat {
                let remote = IPv4Address(value: IPv4Address(198, 18, 0, 1).value + UInt32(f / 60000))
                return toServer
                    ? FrameBuilder.tcpFrame(sourceMAC: app.peerMAC, destinationMAC: config.routerMAC, source: app.ip,
                                            destination: remote, sourcePort: port, destinationPort: 443, flags: flags,
                                            sequence: 1001, acknowledgment: 5001, payload: data)
                    : FrameBuilder.tcpFrame(sourceMAC: config.upstreamMAC, destinationMAC: config.routerMAC, source: remote,
                                            destination: natAddress, sourcePort: 443, destinationPort: port, flags: flags,
                                            sequence: 5001, acknowledgment: 1001, payload: data)
            }
            let addr = IPv4Address(value: IPv4Address(198, 18, 0, 1).value + UInt32(f / 60000))
            return toServer
                ? FrameBuilder.tcpFrame(sourceMAC: client.peerMAC, destinationMAC: config.routerMAC, source: addr,
                                        destination: server.ip, sourcePort: port, destinationPort: 443, flags: flags,
                                        sequence: 1001, acknowledgment: 5001, payload: data)
                : FrameBuilder.tcpFrame(sourceMAC: server.peerMAC, destinationMAC: config.routerMAC, source: server.ip,
                                        destination: addr, sourcePort: 443, destinationPort: port, flags: flags,
                                        sequence: 5001, acknowledgment: 1001, payload: data)
        }
        var dataplane = Dataplane(config: config)
        var batch = PacketBatch()
        var timestamp: UInt64 = 1_700_000_000 * 1_000_000_000
        // Open every flow: SYN, SYN-ACK, ACK.
        let steps: [(Bool, UInt8)] = [(true, TCPHeader.syn), (false, TCPHeader.syn | TCPHeader.ack), (true, TCPHeader.ack)]
        var first = 0
        while first < flows {
            let last = min(flows, first + PacketBatch.inputCapacity)
            for (toServer, flags) in steps {
                for f in first..<last {
                    _ = frame(f, toServer: toServer, flags: flags, payload: 0).withUnsafeBytes {
                        batch.append($0, timestamp: timestamp, port: toServer ? clientPort : web)
                    }
                }
                dataplane.process(&batch)
                batch.reset()
                timestamp += 1000
            }
            first = last
        }
        precondition(dataplane.counters.packetsDropped == 0, "opening the benchmark flows dropped packets")
        // Data frames, 64 bytes on the wire (60 in memory), both directions, flows interleaved.
        let count = 2 * flows
        let frames = UnsafeMutableRawPointer.allocate(byteCount: count * 64, alignment: 64)
        var ports: [UInt16] = []
        for k in 0..<count {
            let toServer = k & 1 == 0
            let f = frame((k >> 1) &* 7919 % flows, toServer: toServer, flags: TCPHeader.ack | TCPHeader.psh, payload: 6)
            f.withUnsafeBytes { (frames + k * 64).copyMemory(from: $0.baseAddress!, byteCount: 60) }
            ports.append(toServer ? clientPort : web)
        }
        self.count = count
        self.frames = frames
        self.ports = ports
        self.dataplane = dataplane
        self.batch = batch
        self.timestamp = timestamp
    }

    deinit { frames.deallocate() }

    /// One batch of 256 packets: copy in, process, reset.
    @inline(never)
    func runBatch() {
        var k = cursor
        ports.withUnsafeBufferPointer { ports in
            for _ in 0..<PacketBatch.inputCapacity {
                _ = batch.append(UnsafeRawBufferPointer(start: frames + k * stride, count: frameLength),
                                 timestamp: timestamp, port: ports[k])
                k += 1
                if k == count { k = 0 }
            }
        }
        cursor = k
        dataplane.process(&batch)
        batch.reset()
        timestamp += 1000
    }
}

/// Security rules as a cloud account accumulates them: one per (port, peer), half on the service port
/// (443) from distinct /32 peers, half on other ports; plus HTTPS from everywhere.
func syntheticRules(_ count: Int) -> [SecurityRuleSpec] {
    var rules = [SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [443...443],
                                  peers: [IPv4CIDR(address: .any, prefixLength: 0)])]
    for k in 0..<(count - 1) {
        let peer = IPv4CIDR(address: IPv4Address(value: 0x6440_0000 | UInt32(k)), prefixLength: 32)
        let port = k % 2 == 0 ? UInt16(1024 + (k &* 7919) % 60000) : 443
        rules.append(SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [port...port], peers: [peer]))
    }
    return rules
}

/// First packets to classify: half that a rule admits, half that none does.
func classificationQueries(_ rules: [SecurityRuleSpec]) -> [(port: UInt16, remote: IPv4Address)] {
    var out: [(UInt16, IPv4Address)] = []
    var rng = SplitMix64(seed: 42)
    for i in 0..<1024 {
        if i % 2 == 0 {
            let r = rules[Int(rng.next() % UInt64(rules.count))]
            out.append((r.ports[0].lowerBound, IPv4Address(value: r.peers[0].network.value | 1)))
        } else {
            out.append((UInt16(truncatingIfNeeded: rng.next() | 1), IPv4Address(value: 0x6440_0000 | UInt32(rng.next() % 4_000_000))))
        }
    }
    return out
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        maxDuration: .seconds(2),
        thresholds: [.mallocCountTotal: noAllocations]
    )

    // RFC 1624 incremental update of a header checksum after a TTL and an address rewrite.
    Benchmark("checksum-update", configuration: .init(scalingFactor: .mega)) { benchmark in
        var hc: UInt16 = 0xB1E6
        var address: UInt32 = 0xCB00_710A
        for _ in benchmark.scaledIterations {
            hc = InternetChecksum.update(hc, old: UInt16(0x4006), new: UInt16(0x3F06))
            hc = InternetChecksum.update(hc, old: address, new: address &+ 1)
            address &+= 1
        }
        blackHole(hc)
    }

    // IPv4 header parse (checked constructor, header checksum verification, a few fields read).
    let datagram = FrameBuilder.ipv4(source: IPv4Address(198, 18, 0, 1), destination: IPv4Address(203, 0, 113, 10),
                                     protocol: IPProtocol.tcp, payload: [UInt8](repeating: 0, count: 26))
    let parseBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: datagram.count, alignment: 16)
    parseBuffer.copyBytes(from: datagram)
    let parseBytes = RawBytes(parseBuffer)
    Benchmark("ipv4-parse", configuration: .init(scalingFactor: .mega)) { benchmark in
        var sum: UInt32 = 0
        for _ in benchmark.scaledIterations {
            if let ip = try? IPv4Header(parseBytes), ip.isHeaderChecksumValid {
                sum &+= ip.destination.value &+ UInt32(ip.ttl) &+ UInt32(ip.totalLength)
            }
        }
        blackHole(sum)
    }

    // Longest-prefix match as the router does it: 1,000 instance /32s, 64 subnets (/24), 4 networks (/16).
    var prefixes: [(IPv4CIDR, Int)] = []
    for i in 0..<1000 { prefixes.append((IPv4CIDR(address: IPv4Address(value: 0x0A00_0000 | UInt32(i * 37)), prefixLength: 32), i)) }
    for s in 0..<64 { prefixes.append((IPv4CIDR(address: IPv4Address(value: 0x0A00_0000 | UInt32(s) << 8), prefixLength: 24), 1000 + s)) }
    for n in 0..<4 { prefixes.append((IPv4CIDR(address: IPv4Address(value: 0x0A00_0000 | UInt32(n) << 16), prefixLength: 16), 2000 + n)) }
    let prefixTable = IPv4PrefixTable(prefixes)
    var lookupRandom = SplitMix64(seed: 7)
    let lookupAddresses = (0..<1024).map { _ in IPv4Address(value: 0x0A00_0000 | UInt32(lookupRandom.next() % 0x4_0000)) }
    Benchmark("prefix-table-lookup", configuration: .init(scalingFactor: .mega)) { benchmark in
        var sum = 0
        var i = 0
        lookupAddresses.withUnsafeBufferPointer { addresses in
            for _ in benchmark.scaledIterations {
                if let (v, _) = prefixTable.lookup(addresses[i & 1023]) { sum &+= v }
                i &+= 1
            }
        }
        blackHole(sum)
    }

    // First-packet classification against a security group's ingress rules: 10 and 10,000 rules.
    for ruleCount in [10, 10_000] {
        let rules = syntheticRules(ruleCount)
        let classifier = RuleClassifier(rules)
        let queries = classificationQueries(rules)
        Benchmark("rule-classifier-\(ruleCount)-rules", configuration: .init(scalingFactor: .mega)) { benchmark in
            var admitted = 0
            var i = 0
            queries.withUnsafeBufferPointer { q in
                for _ in benchmark.scaledIterations {
                    let (port, remote) = q[i & 1023]
                    if classifier.allows(protocol: IPProtocol.tcp, servicePort: port, remote: remote) { admitted &+= 1 }
                    i &+= 1
                }
            }
            blackHole(admitted)
        }
    }

    // The connection-tracking flow table: lookups of present keys in a table of 100,000 flows (beyond the
    // L2 cache, as a busy site's is), and an insert followed by a remove (a short flow) per unit.
    let tableFlows = 100_000
    let flowKeys = UnsafeMutablePointer<FlowKey>.allocate(capacity: tableFlows)
    for f in 0..<tableFlows {
        flowKeys[f] = FlowKey.canonical(protocol: IPProtocol.tcp, source: IPv4Address(198, 18, 0, 1).value + UInt32(f / 60000),
                                        sourcePort: UInt16(1024 + f % 60000), destination: IPv4Address(203, 0, 113, 10).value,
                                        destinationPort: 443).key
    }
    let lookupTable = TableFixture(capacity: tableFlows, keys: flowKeys, count: tableFlows)
    Benchmark("flow-table-lookup-100000-flows", configuration: .init(scalingFactor: .mega)) { benchmark in
        var sum = 0
        var i = 0
        for _ in benchmark.scaledIterations {
            sum &+= lookupTable.table.find(flowKeys[i]) ?? 0
            i = i &+ 7919 < tableFlows ? i &+ 7919 : i &+ 7919 &- tableFlows  // a stride that visits every flow
        }
        blackHole(sum)
    }
    let churnTable = TableFixture(capacity: tableFlows + 1, keys: flowKeys, count: tableFlows)
    let shortFlow = FlowKey.canonical(protocol: IPProtocol.udp, source: IPv4Address(198, 19, 0, 1).value, sourcePort: 5353,
                                      destination: IPv4Address(203, 0, 113, 10).value, destinationPort: 53).key
    Benchmark("flow-table-insert-remove-100000-flows", configuration: .init(scalingFactor: .mega)) { benchmark in
        var sum = 0
        for _ in benchmark.scaledIterations {
            if let e = churnTable.table.insert(shortFlow, FlowEntry(key: shortFlow), deadline: 1_000_000_000_000) {
                sum &+= e
                churnTable.table.remove(e, key: shortFlow)
            }
        }
        blackHole(sum)
    }

    // The flow dispatcher of Topologies/load-balancer.yaml (NAT gateway, elastic IP, load balancers) over
    // four workers, one frame placed per unit: clients to the VIP (rule 3), an instance out through the
    // gateway (rule 4) and replies to the gateway's address (rule 2), in turn.
    let lbTopology = try! TopologyLoader.load(path: repositoryRoot + "/Topologies/load-balancer.yaml")
    let lbConfig = lbTopology.dataplaneConfig()
    let vip = lbConfig.loadBalancers[0].vip
    let pool = lbConfig.natGateways[0].publicIPs[0]
    let app = lbConfig.ports[Int(lbConfig.port(named: "app-1")!)]
    var dispatchFrames: [[UInt8]] = []
    for k in 0..<1024 {
        let client = IPv4Address(value: IPv4Address(198, 18, 0, 1).value + UInt32(k % 97))
        let port = UInt16(20000 + k)
        switch k % 3 {
        case 0:
            dispatchFrames.append(FrameBuilder.tcpFrame(sourceMAC: lbConfig.upstreamMAC, destinationMAC: lbConfig.routerMAC,
                                                        source: client, destination: vip, sourcePort: port,
                                                        destinationPort: 80, flags: TCPHeader.syn))
        case 1:
            dispatchFrames.append(FrameBuilder.udpFrame(sourceMAC: app.peerMAC, destinationMAC: lbConfig.routerMAC,
                                                        source: app.ip, destination: client, sourcePort: port,
                                                        destinationPort: 53))
        default:
            dispatchFrames.append(FrameBuilder.udpFrame(sourceMAC: lbConfig.upstreamMAC, destinationMAC: lbConfig.routerMAC,
                                                        source: client, destination: pool, sourcePort: 53,
                                                        destinationPort: port))
        }
    }
    let dispatchBuffer = UnsafeMutableRawPointer.allocate(byteCount: 1024 * 64, alignment: 64)
    for (k, f) in dispatchFrames.enumerated() { (dispatchBuffer + k * 64).copyMemory(from: f, byteCount: min(64, f.count)) }
    let dispatchLengths = UnsafeMutablePointer<Int>.allocate(capacity: 1024)
    for (k, f) in dispatchFrames.enumerated() { dispatchLengths[k] = min(64, f.count) }
    nonisolated(unsafe) var dispatcher = FlowDispatcher(config: lbConfig, workers: 4)
    Benchmark("flow-dispatch-4-workers", configuration: .init(scalingFactor: .mega)) { benchmark in
        var sum = 0
        var i = 0
        for _ in benchmark.scaledIterations {
            let k = i & 1023
            sum &+= dispatcher.worker(frame: UnsafeRawBufferPointer(start: dispatchBuffer + k * 64, count: dispatchLengths[k]))
            i &+= 1
        }
        blackHole(sum)
    }

    // The whole pipeline on established flows, one 256-packet batch of 64-byte frames per unit, with
    // security groups and conntrack (sg) and routing only (route).
    // `nat`: app-1 out through the NAT gateway (groups, conntrack and the NAT stage both ways).
    for (name, routeOnly, nat) in [("pipeline-established-sg", false, false), ("pipeline-established-route", true, false),
                                   ("pipeline-established-nat", false, true)] {
        nonisolated(unsafe) var fixture: PipelineFixture?
        Benchmark("\(name)-1000-flows-batch", configuration: .init(scalingFactor: .kilo)) { benchmark in
            if fixture == nil { fixture = PipelineFixture(flows: 1000, routeOnly: routeOnly, nat: nat) }
            let f = fixture!
            for _ in 0..<PacketBatch.inputCapacity { f.runBatch() }  // warm, unmeasured
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { f.runBatch() }
            benchmark.stopMeasurement()
        }
    }
}

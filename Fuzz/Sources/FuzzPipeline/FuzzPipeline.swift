// libFuzzer target: the whole dataplane, bytes in on any port of every example topology.
//
// Input format: the first byte picks the port (modulo the topology's port count) of the first frame;
// the 4-byte separator FE ED FA CE ends a frame, and the byte after it picks the next frame's port (its
// top bit also advances the capture clock by 301 s instead of 1 ms, so flow expiry runs). Several frames
// per input let the fuzzer build state: a SYN and then its ACK, fragments of one datagram. One dataplane
// per topology is built once and `reset()` before every input: a reset dataplane behaves as a new one
// (ResetTests checks it byte for byte), so every crash stays reproducible from its input alone, and an
// input no longer pays for building six dataplanes (Maglev tables, flow tables, timer wheels).
//
// Invariants: nothing traps; after `process` every packet is decided; a forwarded packet leaves on an
// existing port as an Ethernet frame from the router MAC, and a forwarded IPv4 header has a valid
// checksum; counters add up (in = inputs, out + dropped + consumed = all packets of the batch).
import FuzzSupport
import NimbusDataplane
import NimbusTopology
import NimbusWire

#if canImport(Glibc)
import Glibc
#endif

let separator: [UInt8] = [0xFE, 0xED, 0xFA, 0xCE]

let configs: [DataplaneConfig] = {
    let paths = exampleTopologyPaths()
    if paths.isEmpty { fuzzFailure("no topologies under \(repositoryRoot)/Topologies (set NIMBUS_ROOT)") }
    return paths.map { path in
        let topology: Topology
        do { topology = try TopologyLoader.load(path: path) } catch { fuzzFailure("\(path): \(error)") }
        var config = topology.dataplaneConfig()
        // A small flow table: cheap to make per input, and the fuzzer reaches ct-table-full.
        if config.firewall != nil { config.firewall!.maxFlows = min(config.firewall!.maxFlows, 64) }
        return config
    }
}()

nonisolated(unsafe) var batch = PacketBatch()

/// One dataplane per topology, reset before each input. (A class box: `Dataplane` is `~Copyable` and
/// cannot sit in an array.)
final class DataplaneBox {
    var dataplane: Dataplane
    init(_ config: DataplaneConfig) { dataplane = Dataplane(config: config, seed: 1) }
}
nonisolated(unsafe) let dataplanes = configs.map(DataplaneBox.init)

/// Splits the input into (port byte, frame) pairs.
func frames(_ data: UnsafeRawBufferPointer) -> [(UInt8, UnsafeRawBufferPointer)] {
    guard data.count > 0 else { return [] }
    var out: [(UInt8, UnsafeRawBufferPointer)] = []
    var portByte = data[0]
    var start = 1
    var i = 1
    while i + 4 <= data.count {
        if data[i] == 0xFE && data[i + 1] == 0xED && data[i + 2] == 0xFA && data[i + 3] == 0xCE {
            out.append((portByte, UnsafeRawBufferPointer(rebasing: data[start..<i])))
            if i + 4 >= data.count { return out }
            portByte = data[i + 4]
            start = i + 5
            i = start
        } else {
            i += 1
        }
    }
    out.append((portByte, UnsafeRawBufferPointer(rebasing: data[start..<data.count])))
    return out
}

func check(_ dataplane: borrowing Dataplane, _ config: DataplaneConfig) {
    for i in 0..<batch.count {
        let m = batch.meta[i]
        switch m.verdict {
        case .pending:
            fuzzFailure("\(config.name): packet \(i) left pending")
        case .drop:
            if m.drop == .none { fuzzFailure("\(config.name): packet \(i) dropped without a reason") }
        case .consumed:
            break   // a WireGuard message that ended at a tunnel, or a packet held for one
        case .forward:
            guard Int(m.outPort) < config.ports.count else {
                fuzzFailure("\(config.name): packet \(i) forwarded to port \(m.outPort) of \(config.ports.count)")
            }
            let b = batch.bytes(i)
            guard let eth = try? EthernetFrame(b) else {
                fuzzFailure("\(config.name): forwarded packet \(i) is not an Ethernet frame (\(b.count) bytes)")
            }
            if eth.source != config.routerMAC {
                fuzzFailure("\(config.name): forwarded packet \(i) from \(eth.source), not the router MAC")
            }
            if eth.vlanID != nil { fuzzFailure("\(config.name): forwarded packet \(i) still tagged") }
            if eth.etherType == EtherType.ipv4, let ip = try? IPv4Header(eth.payload), !ip.isHeaderChecksumValid {
                fuzzFailure("\(config.name): forwarded packet \(i) has a bad IPv4 header checksum")
            }
        }
    }
}

/// Runs the batch, checks it, empties it; returns how many packets it decided.
func flush(_ dataplane: inout Dataplane, _ config: DataplaneConfig) -> UInt64 {
    dataplane.process(&batch)
    check(dataplane, config)
    let n = UInt64(batch.count)
    batch.reset()
    return n
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let list = frames(input)
    if list.isEmpty { return 0 }
    for (config, box) in zip(configs, dataplanes) {
        box.dataplane.reset()
        let portCount = config.ports.count
        var now: UInt64 = 1_700_000_000_000_000_000
        var inputs: UInt64 = 0
        var decided: UInt64 = 0
        batch.reset()
        for (portByte, frame) in list {
            now += portByte & 0x80 != 0 ? 301_000_000_000 : 1_000_000
            let port = UInt16(Int(portByte & 0x7F) % portCount)
            if !batch.canAppend(length: frame.count) { decided += flush(&box.dataplane, config) }
            guard batch.append(frame, timestamp: now, port: port) != nil else {
                fuzzFailure("a \(frame.count)-byte frame does not fit an empty batch")
            }
            inputs += 1
        }
        decided += flush(&box.dataplane, config)
        let c = box.dataplane.counters
        if c.packetsIn != inputs { fuzzFailure("\(config.name): packets.in \(c.packetsIn), appended \(inputs)") }
        if c.packetsOut + c.packetsDropped + c.packetsConsumed != decided {
            fuzzFailure("\(config.name): out \(c.packetsOut) + dropped \(c.packetsDropped) != \(decided) packets")
        }
        let dropSum = c.drops.reduce(0, +)
        if dropSum != c.packetsDropped { fuzzFailure("\(config.name): drop reasons sum \(dropSum) != dropped \(c.packetsDropped)") }
    }
    return 0
}

/// The entry point: SwiftPM links `main` to `FuzzPipeline_main`, which hands over to libFuzzer's driver.
@_cdecl("FuzzPipeline_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data!, size) }
}

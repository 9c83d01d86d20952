import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import NimbusDataplane
import NimbusReplay
import NimbusTopology
import NimbusWire

/// `nimbus`: argument parsing and output only; the work is done by the Nimbus libraries.
struct Nimbus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nimbus",
        abstract: "A software-defined network dataplane for IaaS clouds.",
        subcommands: [Check.self, Replay.self, ReachCommand.self, Draw.self, Reasons.self, BenchCommand.self, Up.self, Down.self,
                      Exec.self]
    )
}

/// Exit status for bad input (arguments, topology files, captures): the product contract's 2.
let badInputStatus: Int32 = 2

func printError(_ message: String) {
    var bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func loadTopology(_ path: String) throws -> Topology {
    do {
        return try TopologyLoader.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(badInputStatus)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a topology file and print a summary of it.")

    @Argument(help: "The topology file (YAML).")
    var topology: String

    func run() throws {
        let t = try loadTopology(topology)
        print(t.summary(), terminator: t.summary().hasSuffix("\n") ? "" : "\n")
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push captured traffic through a topology; write each port's output, the drops and a report.")

    @Argument(help: "The topology file (YAML); several run together as sites joined by a simulated internet, ports named SITE/INSTANCE.")
    var topologies: [String]

    @Option(name: .customLong("in"), help: ArgumentHelp("A capture to send into a port.", valueName: "PORT=FILE"))
    var inputs: [String] = []

    @Option(name: .customLong("out"), help: ArgumentHelp("Directory for PORT.pcap, drops.pcapng and report.json.", valueName: "DIR"))
    var outputDirectory: String

    @Option(help: "Seed for every random choice the dataplane makes.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Print each stage's decision for the first N packets.", valueName: "N"))
    var trace: Int = 0

    @Option(help: ArgumentHelp("Share-nothing workers per site (threads; flows spread by a symmetric hash, NAT ports split among them).", valueName: "N"))
    var workers: Int = 1

    @Flag(help: "Do not draw a progress line on a terminal.")
    var noProgress = false

    @Option(name: .customLong("flow-log"), help: ArgumentHelp("Write one JSON line per flow (accepted or rejected) here.", valueName: "FILE"))
    var flowLog: String?

    @Option(name: .customLong("wg-keylog"), help: ArgumentHelp("Write every WireGuard handshake's secrets here, for Wireshark's wg.keylog_file.", valueName: "FILE"))
    var wgKeylog: String?

    @Option(name: .customLong("map"), help: ArgumentHelp("Replay a capture's host as an instance: its frames enter the instance's port as the instance, frames to it enter from the internet to the instance's public endpoint.", valueName: "ADDR=INSTANCE"))
    var maps: [String] = []

    @Flag(name: .customLong("keep-checksums"), help: "With --map: do not recompute the wrong (offloaded) checksums of a mapped host's frames; let them be dropped as malformed.")
    var keepChecksums = false

    /// `--map` values as (address, instance), or the one-line complaint about the first bad one.
    static func parseMaps(_ maps: [String]) throws -> [HostMapping] {
        try maps.map { m in
            guard let eq = m.firstIndex(of: "="), eq != m.startIndex, m.index(after: eq) != m.endIndex else {
                throw ValidationError("--map \(m): expected ADDR=INSTANCE")
            }
            let addr = m[..<eq], instance = String(m[m.index(after: eq)...])
            guard let a = IPv4Address(addr) else {
                if IPv6Address(addr) != nil {
                    throw ValidationError("--map \(m): IPv6 hosts cannot be mapped yet (instances have no IPv6 addresses until dual-stack lands)")
                }
                throw ValidationError("--map \(m): '\(addr)' is not an IPv4 address")
            }
            return HostMapping(address: a, instance: instance)
        }
    }

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("at least one --in PORT=FILE is required") }
        _ = try Replay.parseMaps(maps)
        if keepChecksums && maps.isEmpty { throw ValidationError("--keep-checksums goes with --map") }
        for i in inputs where i.firstIndex(of: "=") == nil || i.hasPrefix("=") || i.hasSuffix("=") {
            throw ValidationError("--in \(i): expected PORT=FILE")
        }
        guard trace >= 0 else { throw ValidationError("--trace \(trace): must be 0 or more") }
        guard (1...ReplayOptions.maximumWorkers).contains(workers) else {
            throw ValidationError("--workers \(workers): must be 1 to \(ReplayOptions.maximumWorkers)")
        }
        guard !topologies.isEmpty else { throw ValidationError("give at least one topology file") }
    }

    func run() throws {
        let loaded = try topologies.map { try loadTopology($0) }
        if loaded.count > 1 {
            var seen: [String: String] = [:]
            for (t, path) in zip(loaded, topologies) {
                if let first = seen[t.name] {
                    printError("error: \(path): site name '\(t.name)' is also the name of \(first); sites of one replay need distinct names")
                    throw ExitCode(badInputStatus)
                }
                seen[t.name] = path
            }
        }
        let pairs = inputs.map { i -> (port: String, path: String) in
            let eq = i.firstIndex(of: "=")!
            return (String(i[..<eq]), String(i[i.index(after: eq)...]))
        }
        var options = ReplayOptions(inputs: pairs, outputDirectory: outputDirectory)
        options.seed = seed
        options.traceCount = trace
        options.workers = workers
        options.showProgress = !noProgress
        options.flowLogPath = flowLog
        options.wireGuardKeyLogPath = wgKeylog
        options.maps = try Replay.parseMaps(maps)
        options.keepChecksums = keepChecksums
        do {
            let sites = loaded.map { ReplaySite(config: $0.dataplaneConfig(), events: $0.dataplaneEvents()) }
            let report = try NimbusReplay.Replay.run(sites: sites, options: options)
            let c = report.counters
            let consumed = c.packetsConsumed > 0 ? ", \(c.packetsConsumed) consumed (VPN)" : ""
            printError("replayed \(c.packetsIn) packets: \(c.packetsOut) out, \(c.packetsDropped) dropped\(consumed) in \(String(format3(report.seconds)))s (\(format3(report.mpps)) Mpps); results in \(outputDirectory)/")
        } catch {
            printError("error: \(error.message)")
            throw ExitCode(badInputStatus)
        }
    }
}

struct Reasons: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop-reasons", abstract: "List every drop reason with what it means.")

    func run() {
        for r in DropReason.allCases where r != .none {
            print(r.name.padding(toLength: 24), r.explanation)
        }
    }
}

func format3(_ v: Double) -> String {
    let scaled = Int((v * 1000).rounded())
    let frac = String(scaled % 1000)
    return "\(scaled / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}

extension String {
    func padding(toLength n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

// ArgumentParser exits 64 on usage errors; the contract says a bad argument is a one-line error and
// status 2, so parse and report here.
do {
    var command = try Nimbus.parseAsRoot()
    try command.run()
} catch {
    let code = Nimbus.exitCode(for: error)
    if code == .success {
        print(Nimbus.fullMessage(for: error))
        exit(0)
    }
    if let e = error as? ExitCode { exit(e.rawValue) }
    let message = Nimbus.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
    printError("nimbus: \(message)")
    exit(badInputStatus)
}

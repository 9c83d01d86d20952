import ArgumentParser
import NimbusBench
import NimbusTopology

/// `nimbus bench`: synthetic traffic in memory through a topology's dataplane, timed. The work is done
/// by NimbusBench; this parses the arguments and prints the result.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput (Mpps, Gbit/s, ns per packet) of a topology on synthetic traffic.",
        discussion: """
            Established-flow and new-flow traffic is built in memory from the topology and pushed through \
            share-nothing dataplanes, one per thread. route/sg: clients on the internet (or another \
            instance) to a service an instance's security groups admit; nat: private instances out through \
            the NAT gateway to internet servers; lb: internet clients to a load balancer's VIP; mixed: lb and \
            nat flows interleaved; vpn: sealing into and opening out of a WireGuard tunnel, next to \
            swift-crypto alone. Figures are medians of repeated runs; see docs/performance.md.
            """)

    @Argument(help: "The topology file (YAML).")
    var topology: String

    @Option(help: ArgumentHelp("route (routing only), sg (security groups and connection tracking), nat (through the NAT gateway), lb (through a load balancer), mixed (lb and nat flows together) or vpn (through a WireGuard tunnel).", valueName: "NAME"))
    var scenario: String = "sg"

    @Option(help: ArgumentHelp("Established flows, over all threads.", valueName: "N"))
    var flows: Int = 10_000

    @Option(help: ArgumentHelp("Packets per timed repetition, over all threads (default: enough for 0.5 s); also the new flows per run.", valueName: "N"))
    var packets: Int?

    @Option(help: ArgumentHelp("Ethernet frame size in bytes, FCS included (64 to 1518).", valueName: "BYTES"))
    var size: Int = 64

    @Option(help: ArgumentHelp("Share-nothing worker threads.", valueName: "N"))
    var threads: Int = 1

    @Option(name: .customLong("extra-rules"),
            help: ArgumentHelp("Add N ingress rules that do not match the traffic to the receiving instance's first security group.", valueName: "N"))
    var extraRules: Int = 0

    @Option(help: ArgumentHelp("Timed repetitions per phase; the median is reported.", valueName: "N"))
    var repetitions: Int = 5

    @Flag(help: "Print one JSON object.")
    var json = false

    var options: BenchOptions {
        get throws {
            var o = BenchOptions()
            guard let s = BenchScenario(rawValue: scenario) else {
                throw ValidationError("unknown scenario '\(scenario)' (one of: "
                                      + BenchScenario.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            o.scenario = s
            o.flows = flows
            o.packets = packets
            o.size = size
            o.threads = threads
            o.extraRules = extraRules
            o.repetitions = repetitions
            return o
        }
    }

    func validate() throws {
        if let problem = try options.problem() { throw ValidationError(problem) }
    }

    func run() throws {
        let t = try loadTopology(topology)
        do {
            if try options.scenario == .vpn {
                let result = try VPNBench.run(config: t.dataplaneConfig(), options: try options)
                print(json ? result.json : result.text, terminator: "")
                return
            }
            let result = try BenchRunner.run(config: t.dataplaneConfig(), options: try options)
            print(json ? result.json : result.text, terminator: "")
        } catch let e as BenchError {
            printError("nimbus bench: \(e.message)")
            throw ExitCode(e.badInput ? badInputStatus : 1)
        }
    }
}

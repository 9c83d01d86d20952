import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import NimbusLive
import NimbusTopology

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a topology live on this host (root): namespaces as instances, until interrupted.")

    @Argument(help: "The topology file (YAML).")
    var topology: String

    @Option(name: .customLong("pcap-dir"), help: ArgumentHelp("Record what each port sends here.", valueName: "DIR"))
    var pcapDirectory: String?

    @Option(help: "Seed for every random choice the dataplane makes (default: from the system; WireGuard keys need real randomness).")
    var seed: UInt64?

    @Flag(help: "No status line.")
    var quiet = false

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics.", valueName: "HOST:PORT"))
    var metrics: String?

    @Option(help: ArgumentHelp("Share-nothing dataplane workers, each on a thread (flows spread by a symmetric hash, NAT ports split among them).", valueName: "N"))
    var workers: Int = 1

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers \(workers): must be 1 to 64") }
        if let metrics {
            let parts = metrics.split(separator: ":")
            guard parts.count == 2, UInt16(parts[1]) != nil, !parts[0].isEmpty else {
                throw ValidationError("--metrics \(metrics): expected HOST:PORT, e.g. 127.0.0.1:9100")
            }
        }
    }

    func run() throws {
        guard geteuid() == 0 else {
            printError("nimbus up: needs root (network namespaces and packet sockets)")
            throw ExitCode(badInputStatus)
        }
        let t = try loadTopology(topology)
        var options = LiveOptions()
        options.pcapDirectory = pcapDirectory
        options.status = !quiet
        options.workers = workers
        var system = SystemRandomNumberGenerator()
        options.seed = seed ?? system.next()
        if let metrics {
            let parts = metrics.split(separator: ":")
            options.metrics = (String(parts[0]), UInt16(parts[1])!)
        }
        options.onReady = {
            // Unbuffered, so a script waiting for the line sees it at once.
            _ = "ready\n".withCString { write(1, $0, 6) }
        }
        do {
            try LiveRunner.run(config: t.dataplaneConfig(), internetHosts: t.internet.hosts.map { ($0.name, $0.ip) },
                               options: options)
        } catch {
            printError("nimbus up: \(error.message)")
            throw ExitCode(1)
        }
    }
}

struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what `nimbus up` made (after a crash): namespaces, links, processes inside.")

    @Argument(help: "A topology file, to take down only its site (default: every site).")
    var topology: String?

    func run() throws {
        var site: String? = nil
        if let topology { site = try loadTopology(topology).name }
        let removed = LiveNetwork.down(site: site)
        print(removed.isEmpty ? "nothing to take down" : "took down: \(removed.joined(separator: ", "))")
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a running instance's (or internet host's) namespace.")

    @Argument(help: "An instance or internet host name (SITE/NAME when several sites run).")
    var name: String

    @Argument(parsing: .postTerminator, help: "The command, after --.")
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command after --, e.g. nimbus exec web-1 -- ip addr") }
    }

    func run() throws {
        let error = LiveNetwork.exec(name: name, argv: command)
        printError("nimbus exec: \(error.message)")
        throw ExitCode(badInputStatus)
    }
}

import ArgumentParser
import Foundation
import NimbusDataplane
import NimbusExplain
import NimbusTopology

extension ReachProtocol: ExpressibleByArgument {}

struct ReachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reach",
        abstract: "Whether a flow's first packet gets from FROM to TO and its reply comes back, and what blocks it.",
        discussion: """
            FROM: an instance, 'internet' (from \(Reach.internetSource)) or an IPv4 address on the internet. \
            TO: an instance, a load balancer, an IPv4 address or 'internet' (\(Reach.internetDestination)). \
            Exit status 0 reachable, 1 not reachable, 2 bad arguments or topology.
            """)

    @Argument(help: "The topology file (YAML).")
    var topology: String

    @Argument(help: "Where the flow starts.")
    var from: String?

    @Argument(help: "Where it goes.")
    var to: String?

    @Option(name: .customLong("protocol"), help: "tcp, udp or icmp.")
    var proto: ReachProtocol = .tcp

    @Option(help: "Destination port (tcp/udp); default the load balancer's listener, else 80.")
    var port: Int?

    @Flag(help: "Print the answer as JSON.")
    var json = false

    @Flag(help: "Every instance and the internet against every instance.")
    var matrix = false

    func validate() throws {
        if matrix {
            guard from == nil && to == nil else { throw ValidationError("--matrix takes no FROM or TO") }
            guard !json else { throw ValidationError("--json goes with FROM TO, not --matrix") }
        } else {
            guard from != nil && to != nil else { throw ValidationError("give FROM and TO, or --matrix") }
        }
        if let port {
            guard proto != .icmp else { throw ValidationError("--port goes with tcp or udp, not icmp") }
            guard (1...65535).contains(port) else { throw ValidationError("--port \(port): must be 1 to 65535") }
        }
    }

    func run() throws {
        let config = try loadTopology(topology).dataplaneConfig()
        let reach = Reach(config: config)
        let servicePort = port.map { UInt16($0) }
        if matrix {
            let m = reach.matrix(protocol: proto, port: servicePort)
            print(Self.table(header: "FROM \\ TO", m.rows, m.columns, m.cells), terminator: "")
            return
        }
        let query: ReachQuery
        do {
            query = try reach.query(from: from!, to: to!, protocol: proto, port: servicePort)
        } catch {
            printError("error: \(error.message)")
            throw ExitCode(badInputStatus)
        }
        let answer = reach.answer(query)
        print(json ? Self.json(answer) : Self.text(answer), terminator: "")
        if !answer.reachable { throw ExitCode(1) }
    }

    /// The path as `--trace` prints it (legs opened by their frame), then the verdict.
    static func text(_ a: ReachAnswer) -> String {
        var out = ""
        for step in a.path {
            out += step.stage == "ingress" ? step.decision + "\n" : "  " + step.stage.padding(toLength: 12) + step.decision + "\n"
        }
        guard let b = a.blockedBy else { return out + "reachable\n" }
        let rule = b.rule.map { " rule \($0)" } ?? ""
        let direction = b.direction.map { " \($0)" } ?? ""
        return out + "not reachable: blocked by \(b.kind.rawValue) \(b.name)\(rule)\(direction)\n"
    }

    /// SPEC's shape: `{"reachable", "path": [{"stage", "decision"}], "blocked-by": null | {...}}`, as a
    /// `Codable` type encoded by Foundation's `JSONEncoder` (sorted keys, so the output is deterministic).
    static func json(_ a: ReachAnswer) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(ReachJSON(a)) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Rows by columns, each column as wide as its widest cell.
    static func table(header: String, _ rows: [String], _ columns: [String], _ cells: [[String]]) -> String {
        let first = ([header] + rows).map(\.count).max() ?? 0
        let widths = columns.indices.map { c in ([columns[c]] + cells.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ head: String, _ values: [String]) -> String {
            var s = head.padding(toLength: first)
            for (v, w) in zip(values, widths) { s += "  " + v.padding(toLength: w) }
            while s.hasSuffix(" ") { s.removeLast() }
            return s + "\n"
        }
        return line(header, columns) + zip(rows, cells).map { line($0, $1) }.joined()
    }
}

/// `nimbus reach --json`, as SPEC.md fixes it. Keys that may be empty are always written (`null`).
struct ReachJSON: Encodable {
    struct Step: Encodable {
        var stage: String
        var decision: String
    }

    struct Blocker: Codable, Sendable, Equatable {
        var kind: String
        var name: String
        @ExplicitNull var rule: Int?
        @ExplicitNull var direction: String?
    }

    var reachable: Bool
    var path: [Step]
    @ExplicitNull var blockedBy: Blocker?

    enum CodingKeys: String, CodingKey {
        case reachable, path
        case blockedBy = "blocked-by"
    }

    init(_ a: ReachAnswer) {
        reachable = a.reachable
        path = a.path.map { Step(stage: $0.stage, decision: $0.decision) }
        blockedBy = a.blockedBy.map {
            Blocker(kind: $0.kind.rawValue, name: $0.name, rule: $0.rule, direction: $0.direction)
        }
    }
}

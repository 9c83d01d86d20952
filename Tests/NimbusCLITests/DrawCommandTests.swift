import Foundation
import NimbusTestSupport
import NimbusTopology
import Testing

/// `nimbus draw` as users run it: every example drawn and accepted by Graphviz and an XML parser,
/// one-line errors with status 2, `--output` complete or absent.
@Suite struct DrawCommandTests {
    var nimbus: String { Repo.nimbus }

    static let examples: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Repo.path("Topologies"))) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { Repo.path("Topologies/" + $0) }
    }()

    static let graphvizAndXmllint = tool("dot") != nil && tool("xmllint") != nil

    /// The text an SVG shows, character references decoded (Graphviz writes `-` as `&#45;`), so
    /// names are compared as written.
    static func svgText(_ svg: String) -> String {
        var out = ""
        var rest = Substring(svg)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            rest = rest[amp...]
            guard let semi = rest.firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            let named = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            if let text = named[String(entity)] {
                out += text
            } else if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                out.unicodeScalars.append(u)
            } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = Unicode.Scalar(v) {
                out.unicodeScalars.append(u)
            } else {
                out += rest[...semi]
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    @Test(.enabled(if: graphvizAndXmllint, "graphviz or libxml2-utils (xmllint) is not installed"),
          arguments: examples)
    func everyExampleDrawsAsValidSVG(_ path: String) throws {
        let drawn = try run(nimbus, ["draw", path, "--format", "dot"])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(drawn.stderr.isEmpty)
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try drawn.stdout.write(toFile: dir + "/graph.dot", atomically: true, encoding: .utf8)
        let rendered = try run(tool("dot")!, ["-Tsvg", dir + "/graph.dot", "-o", dir + "/graph.svg"])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        #expect(rendered.stderr.isEmpty, "dot warned: \(rendered.stderr)")
        let xml = try run(tool("xmllint")!, ["--noout", dir + "/graph.svg"])
        #expect(xml.status == 0, "\(xml.stderr)")
        let svg = Self.svgText(try String(contentsOfFile: dir + "/graph.svg", encoding: .utf8))
        let topology = try TopologyLoader.load(path: path)
        for name in topology.instances.map(\.name) + topology.networks.map(\.name) + topology.internet.hosts.map(\.name) {
            #expect(svg.contains(">\(name)</text>"), "\(path): \(name) is not in the drawing")
        }
    }

    @Test(.enabled(if: tool("dot") != nil, "graphviz is not installed"))
    func svgToStandardOutputByDefault() throws {
        let r = try run(nimbus, ["draw", Repo.path("Topologies/load-balancer.yaml")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(r.stdout.hasPrefix("<?xml"))
        #expect(r.stdout.contains("<svg"))
        #expect(Self.svgText(r.stdout).contains(">web-lb</text>"))
        #expect(r.stdout.hasSuffix("</svg>\n"))
    }

    @Test(.enabled(if: tool("dot") != nil, "graphviz is not installed"))
    func pngToAFile() throws {
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(nimbus, ["draw", Repo.path("Topologies/nat-private.yaml"), "--format", "png", "--output", dir + "/net.png"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty)
        let png = try #require(FileManager.default.contents(atPath: dir + "/net.png"))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // Nothing but the result is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["net.png"])
    }

    @Test func dotFormatNeedsNoGraphviz() throws {
        let r = try runWithPath("/nonexistent", nimbus, ["draw", Repo.path("Topologies/public-ip.yaml"), "--format", "dot"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(#"digraph "public-cloud" {"#))
        #expect(r.stdout.hasSuffix("}\n"))
    }

    @Test func missingGraphvizIsOneLineAndStatusTwo() throws {
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runWithPath("/nonexistent", nimbus, ["draw", Repo.path("Topologies/public-ip.yaml"), "--output", dir + "/x.svg"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("graphviz"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func badTopologyIsReportedWithItsPositionAndStatusTwo() throws {
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bad.yaml"
        try """
        version: 1
        name: bad
        networks:
          - { name: n, cidr: 203.0.113.0/24, mode: public-ip, subnets: [ { name: s, cidr: 203.0.113.0/26 } ] }
        instances:
          - { name: a, network: nope, subnet: s, ip: 203.0.113.10 }

        """.write(toFile: file, atomically: true, encoding: .utf8)
        for format in ["svg", "dot", "png"] {
            let r = try run(nimbus, ["draw", file, "--format", format, "--output", dir + "/out." + format])
            #expect(r.status == 2)
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.hasPrefix(file + ":6:25: error: unknown network 'nope'"), "\(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["bad.yaml"])
    }

    @Test func badArgumentsAreOneLineAndStatusTwo() throws {
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topo = Repo.path("Topologies/public-ip.yaml")
        let cases: [[String]] = [
            ["draw", topo, "--format", "jpeg", "--output", dir + "/x.jpeg"],
            ["draw", topo, "--format"],
            ["draw"],
            ["draw", "/nonexistent.yaml", "--output", dir + "/x.svg"],
            ["draw", topo, "--format", "dot", "--output", dir + "/no/such/dir/x.dot"],
        ]
        for args in cases {
            let r = try run(nimbus, args)
            #expect(r.status == 2, "\(args): status \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        let format = try run(nimbus, ["draw", topo, "--format", "jpeg"])
        #expect(format.stderr.contains("'jpeg'"))
        #expect(format.stderr.contains("svg"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func outputReplacesAFileWhole() throws {
        let dir = makeTempDirectory("nimbus-draw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "old".write(toFile: dir + "/graph.dot", atomically: true, encoding: .utf8)
        // A failure leaves the old file as it was...
        let bad = try run(nimbus, ["draw", "/nonexistent.yaml", "--format", "dot", "--output", dir + "/graph.dot"])
        #expect(bad.status == 2)
        #expect(try String(contentsOfFile: dir + "/graph.dot", encoding: .utf8) == "old")
        // ...a success replaces it, and nothing else is left beside it.
        let good = try run(nimbus, ["draw", Repo.path("Topologies/vpn-office.yaml"), "--format", "dot", "--output", dir + "/graph.dot"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.isEmpty)
        #expect(try String(contentsOfFile: dir + "/graph.dot", encoding: .utf8).hasPrefix(#"digraph "office" {"#))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["graph.dot"])
    }

    /// Runs a program with PATH set to `path` (and the rest of the environment kept).
    func runWithPath(_ path: String, _ executable: String, _ arguments: [String]) throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = path
        return try run(executable, arguments, environment: environment)
    }
}

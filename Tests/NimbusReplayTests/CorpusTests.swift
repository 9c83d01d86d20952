import Foundation
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import Testing

/// Real captures that nobody here wrote, many crafted to break parsers: every one must replay on every
/// port of every example topology without a crash, and account for each packet it carries.
@Suite struct CorpusTests {
    static var captures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Repo.corpus)) ?? [])
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }

    static var topologies: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Repo.path("Topologies"))) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// Packet counts per file from the corpus index (as tshark counted them).
    static var indexedCounts: [String: UInt64] {
        guard let text = try? String(contentsOfFile: Repo.corpus + "/index.tsv", encoding: .utf8) else { return [:] }
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            if cols.count > 3, let n = UInt64(cols[3]) { out[String(cols[0])] = n }
        }
        return out
    }

    @Test(.enabled(if: !CorpusTests.captures.isEmpty, "no captures at \(Repo.corpus)"))
    func everyCaptureReplaysOnEveryPortOfEveryExample() throws {
        let captures = Self.captures
        let counts = Self.indexedCounts
        #expect(captures.count >= 150)
        var replayed = 0, refused: [String] = []
        for name in Self.topologies {
            let topology = try TopologyLoader.load(path: Repo.path("Topologies/" + name))
            let config = topology.dataplaneConfig()
            for port in config.ports.map(\.name) {
                for capture in captures {
                    let dir = makeTempDirectory("nimbus-corpus")
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let options = ReplayOptions(inputs: [(port, Repo.corpus + "/" + capture)], outputDirectory: dir)
                    do {
                        let report = try Replay.run(config: config, options: options)
                        let c = report.counters
                        // Every packet in is either forwarded or dropped (generated answers add to `out`).
                        #expect(c.packetsIn <= c.packetsOut + c.packetsDropped, "\(capture) on \(port)")
                        #expect(c.drops.reduce(0, +) == c.packetsDropped)
                        // Every record is read: the same count tshark reports for the file.
                        if let n = counts[capture] { #expect(c.packetsIn == n, "\(capture): \(c.packetsIn) of \(n) packets") }
                        replayed += 1
                    } catch {
                        // A corrupt file is refused with a message naming it; never half-written outputs.
                        #expect(error.message.contains(capture), "\(error.message)")
                        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                        #expect(left.isEmpty, "\(capture): left \(left) behind")
                        refused.append("\(capture) on \(port): \(error.message)")
                    }
                }
            }
        }
        print("corpus: \(replayed) replays completed, \(refused.count) refused as corrupt")
        for r in Set(refused.map { $0.split(separator: ":").first.map(String.init) ?? $0 }).sorted() { print("  refused: \(r)") }
        #expect(replayed > 0)
    }
}

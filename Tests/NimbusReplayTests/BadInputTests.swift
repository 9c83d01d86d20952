import Foundation
import NimbusDataplane
import NimbusPcap
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// Bad input everywhere: truncated and corrupt captures, clocks running backwards, unknown link types,
/// outputs that cannot be written or run out of space, and mutated topology files. Whatever goes wrong,
/// the replay fails with one line naming the culprit and leaves nothing that looks complete; the loader
/// either loads or points at FILE:LINE:COLUMN.
@Suite(.serialized) struct BadInputTests {
    static let topologyPath = Repo.path("Topologies/public-ip.yaml")
    static let capture = Repo.path("Topologies/public-ip.internet.pcap")

    static func config() throws -> DataplaneConfig {
        try TopologyLoader.load(path: topologyPath).dataplaneConfig()
    }

    /// Visible files in a directory (outputs are renamed into place only when complete; temporaries are
    /// hidden and must be gone too).
    static func listing(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// Replays `input` on the internet port into `out`; the error message when it fails.
    static func replay(_ input: String, out: String, port: String = "internet") throws -> Result<ReplayReport, ReplayError> {
        var options = ReplayOptions(inputs: [(port, input)], outputDirectory: out)
        options.seed = 7
        let config = try config()
        do throws(ReplayError) {
            return .success(try Replay.run(config: config, options: options, traceOutput: { _ in }))
        } catch {
            return .failure(error)
        }
    }

    /// A failed replay: a one-line message naming `culprit`, and no output left behind.
    static func expectCleanFailure(_ result: Result<ReplayReport, ReplayError>, naming culprit: String, out: String,
                                   _ context: String) {
        switch result {
        case .success:
            Issue.record("\(context): replay succeeded")
        case .failure(let e):
            #expect(!e.message.contains("\n"), "\(context): more than one line: \(e.message)")
            #expect(e.message.contains(culprit), "\(context): does not name \(culprit): \(e.message)")
            #expect(listing(out).isEmpty, "\(context): left \(listing(out)) in \(out)")
        }
    }

    // MARK: Captures

    @Test func truncatedCapturesFailCleanlyOrReplayWhatIsWhole() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.capture)))
        let dir = makeTempDirectory("nimbus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Record boundaries of the classic pcap, to know which cuts leave whole records only.
        var boundaries: Set<Int> = [24]
        var o = 24
        while o + 16 <= original.count {
            let incl = Int(original[o + 8]) | Int(original[o + 9]) << 8 | Int(original[o + 10]) << 16 | Int(original[o + 11]) << 24
            o += 16 + incl
            boundaries.insert(o)
        }
        var cuts = Array(Set([0, 1, 4, 23, 24, 25, 39, 40, 41, original.count - 1] + boundaries.map { $0 + 7 })).filter { $0 < original.count && $0 >= 0 }.sorted()
        cuts = Array(cuts.prefix(40))
        for cut in cuts {
            let input = dir + "/cut-\(cut).pcap"
            try Data(original.prefix(cut)).write(to: URL(fileURLWithPath: input))
            let out = dir + "/out-\(cut)"
            let result = try Self.replay(input, out: out)
            if boundaries.contains(cut) {
                if case .failure(let e) = result { Issue.record("cut at a record boundary \(cut) fails: \(e)") }
            } else {
                Self.expectCleanFailure(result, naming: input, out: out, "cut at \(cut) of \(original.count)")
            }
        }
    }

    @Test func corruptCapturesFailWithOneLine() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.capture)))
        let dir = makeTempDirectory("nimbus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        var badMagic = original; badMagic[0] = 0x00
        var hugeRecord = original; hugeRecord.replaceSubrange(32..<36, with: le32(0x7FFF_FFFF))
        var hugeOriginal = original; hugeOriginal.replaceSubrange(36..<40, with: le32(0xFFFF_FFFF))
        let pcapng: [UInt8] = [0x0A, 0x0D, 0x0D, 0x0A] + le32(28) + [0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0]
            + Array(repeating: 0xFF, count: 8) + le32(28)
        let badBlockLength = pcapng + [1, 0, 0, 0] + le32(0xFFFF_FFF0) + [1, 0, 0, 0]
        let shortBlock = pcapng + [6, 0, 0, 0] + le32(8)
        let cases: [(String, [UInt8])] = [
            ("empty file", []),
            ("bad magic", badMagic),
            ("record longer than the snapshot", hugeRecord),
            ("text, not a capture", Array("version: 1\nname: x\n".utf8)),
            ("pcapng with a huge block length", badBlockLength),
            ("pcapng with a block shorter than its header", shortBlock),
        ]
        for (name, bytes) in cases {
            let input = dir + "/\(name.replacingOccurrences(of: " ", with: "-")).pcap"
            try Data(bytes).write(to: URL(fileURLWithPath: input))
            let out = dir + "/out-\(name.replacingOccurrences(of: " ", with: "-"))"
            Self.expectCleanFailure(try Self.replay(input, out: out), naming: input, out: out, name)
        }
        // An original length above the captured length is a snapshot-truncated record: it replays.
        let input = dir + "/orig-len.pcap"
        try Data(hugeOriginal).write(to: URL(fileURLWithPath: input))
        if case .failure(let e) = try Self.replay(input, out: dir + "/out-orig") { Issue.record("orig_len > caplen: \(e)") }
    }

    @Test func unknownLinkTypeIsOneLineNamingIt() throws {
        let dir = makeTempDirectory("nimbus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/usb.pcap"
        try writePcap(input, [(1_000_000_000, [1, 2, 3, 4])], linkType: 147)  // DLT_USER0
        let out = dir + "/out"
        let result = try Self.replay(input, out: out)
        Self.expectCleanFailure(result, naming: input, out: out, "link type 147")
        if case .failure(let e) = result { #expect(e.message.contains("link type"), "\(e.message)") }
    }

    @Test func timestampsGoingBackwardsStayInOrderAndDeterministic() throws {
        let dir = makeTempDirectory("nimbus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The example capture with its records' times scrambled: some jump back by up to an hour.
        var records = try readPcap(Self.capture)
        var random = SplitMix64(seed: 5)
        for i in records.indices where random.next() % 3 == 0 {
            records[i].timestamp &-= random.next() % 3_600_000_000_000
        }
        let input = dir + "/backwards.pcap"
        try writePcap(input, records.map { ($0.timestamp, $0.bytes) })
        var outputs: [[String: Data]] = []
        for run in 0..<2 {
            let out = dir + "/out-\(run)"
            guard case .success = try Self.replay(input, out: out) else { Issue.record("replay \(run) failed"); return }
            var files: [String: Data] = [:]
            for name in Self.listing(out) where name != "report.json" {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            }
            outputs.append(files)
            for name in Self.listing(out) where name.hasSuffix(".pcap") {
                let times = try readPcap(out + "/" + name).map(\.timestamp)
                #expect(times == times.sorted(), "\(name): output timestamps go backwards")
            }
        }
        #expect(!outputs[0].isEmpty)
        #expect(outputs[0] == outputs[1], "two replays of the same input differ")
    }

    // MARK: Outputs

    @Test func unwritableOutputDirectory() throws {
        let dir = makeTempDirectory("nimbus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        for out in [dir + "/file", dir + "/file/out", "/proc/nimbus-out"] {
            let result = try Self.replay(Self.capture, out: out)
            switch result {
            case .success: Issue.record("\(out): replay succeeded")
            case .failure(let e):
                #expect(!e.message.contains("\n") && e.message.contains(out), "\(out): \(e.message)")
            }
        }
        #expect(Self.listing(dir) == ["file"])
    }

    /// Outputs on a tiny tmpfs that fills up mid-replay: a one-line error, nothing left that looks
    /// complete (not even temporaries). Needs root with CAP_SYS_ADMIN for the mount; skipped otherwise.
    @Test(.enabled(if: hasSysAdmin && tool("mount") != nil, "mounting a tmpfs needs root with CAP_SYS_ADMIN, and mount(8)"))
    func diskFullLeavesNoCompleteLookingOutputs() throws {
        let dir = makeTempDirectory("nimbus-diskfull")
        defer {
            _ = try? run("/bin/umount", [dir + "/mnt"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let mnt = dir + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = try #require(tool("mount"))
        let mounted = try run(mount, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt])
        try #require(mounted.status == 0, "cannot mount a tmpfs at \(mnt): \(mounted.stderr)")
        // A capture big enough to overflow 64 KiB of outputs: the example's records, many times over.
        let records = try readPcap(Self.capture)
        var frames: [(UInt64, [UInt8])] = []
        var t: UInt64 = 1_700_000_000_000_000_000
        for _ in 0..<400 { for r in records { t += 1_000_000; frames.append((t, r.bytes)) } }
        let input = dir + "/big.pcap"
        try writePcap(input, frames)
        let out = mnt + "/out"
        let result = try Self.replay(input, out: out)
        switch result {
        case .success(let r):
            Issue.record("replay onto a full disk succeeded (\(r.counters.packetsOut) packets out)")
        case .failure(let e):
            #expect(!e.message.contains("\n"), "\(e.message)")
            #expect(e.message.contains(out), "the error names the output: \(e.message)")
            #expect(e.message.lowercased().contains("space"), "the error says why: \(e.message)")
            #expect(Self.listing(out).isEmpty, "left behind: \(Self.listing(out))")
            print("bad-input: disk full: \(e.message)")
        }
    }

    // MARK: Topologies

    /// A few hundred seeded mutations of every example topology (byte edits, line deletions,
    /// duplications and swaps, indentation changes, truncation): never a crash, and either the file
    /// loads (and compiles) or every diagnostic points at a line and column of it.
    @Test func mutatedTopologiesLoadOrPointAtTheError() throws {
        let dir = Repo.path("Topologies")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(!files.isEmpty)
        var random = SplitMix64(seed: 2024)
        var loaded = 0, rejected = 0
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_:{}[],#&*!|>'\"./ \t\n".utf8) + [0xC3, 0xA9, 0xFF, 0x00]
        for file in files {
            let original = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for _ in 0..<(300 / files.count + 1) {
                var bytes = Array(original.utf8)
                var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let edits = 1 + Int(random.next() % 4)
                var lineMode = random.next() % 2 == 0
                for _ in 0..<edits {
                    if lineMode, lines.count > 1 {
                        let a = Int(random.next() % UInt64(lines.count)), b = Int(random.next() % UInt64(lines.count))
                        switch random.next() % 5 {
                        case 0: lines.remove(at: a)
                        case 1: lines.insert(lines[a], at: b)
                        case 2: lines.swapAt(a, b)
                        case 3: lines[a] = String(repeating: " ", count: Int(random.next() % 9)) + lines[a].trimmingCharacters(in: .whitespaces)
                        default: lines[a] = String(lines[a].prefix(Int(random.next() % UInt64(lines[a].count + 1))))
                        }
                    } else if !bytes.isEmpty {
                        let at = Int(random.next() % UInt64(bytes.count))
                        let c = alphabet[Int(random.next() % UInt64(alphabet.count))]
                        switch random.next() % 4 {
                        case 0: bytes[at] = c
                        case 1: bytes.insert(c, at: at)
                        case 2: bytes.remove(at: at)
                        default: bytes = Array(bytes.prefix(at))
                        }
                    }
                    // Apply byte edits after line edits of the same case.
                    if lineMode { bytes = Array(lines.joined(separator: "\n").utf8); lineMode = random.next() % 2 == 0 }
                    lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                }
                let text = String(decoding: bytes, as: UTF8.self)
                do {
                    let topology = try TopologyLoader.load(yaml: text, file: file)
                    _ = topology.dataplaneConfig()
                    loaded += 1
                } catch {
                    rejected += 1
                    #expect(!error.diagnostics.isEmpty, "an error without diagnostics")
                    for d in error.diagnostics {
                        #expect(d.file == file && d.line >= 1 && d.column >= 1, "\(d) for:\n\(text)")
                        #expect(d.description.hasPrefix("\(file):\(d.line):\(d.column): error: "), "\(d.description)")
                    }
                }
            }
        }
        print("bad-input: mutated topologies: \(loaded) loaded, \(rejected) rejected with positions")
        #expect(loaded + rejected >= 300)
    }

    /// `max-flows` beyond what a flow table can hold must be a diagnostic, not a trap when the dataplane
    /// allocates its tables (Tests/Regressions/topology/max-flows-above-table-limit.yaml).
    @Test func maxFlowsAboveTheTableLimitIsRejected() throws {
        let path = Repo.path("Tests/Regressions/topology/max-flows-above-table-limit.yaml")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        do throws(TopologyError) {
            let topology = try TopologyLoader.load(yaml: text, file: "big.yaml")
            let flows = topology.dataplaneConfig().firewall?.maxFlows ?? 0
            Issue.record("max-flows \(flows) loads; Dataplane(config:) would trap")
        } catch {
            #expect(error.diagnostics.contains { $0.message.contains("max-flows") && $0.line >= 1 }, "\(error)")
        }
    }
}

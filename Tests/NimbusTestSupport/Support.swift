import Foundation
import NimbusPcap
import NimbusWire

/// Paths and helpers shared by the end-to-end test targets (replay, CLI, bench, live).
public enum Repo {
    /// The repository root: three levels above this file (Tests/NimbusTestSupport/Support.swift).
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    public static let corpus = root.deletingLastPathComponent().appendingPathComponent("shared/corpus/pcaps").path
    public static let golden = root.appendingPathComponent("Tests/NimbusReplayTests/Golden").path
    /// Set NIMBUS_UPDATE_GOLDEN=1 to rewrite golden files and example captures from what the code produces.
    public static let updateGolden = ProcessInfo.processInfo.environment["NIMBUS_UPDATE_GOLDEN"] == "1"

    /// The `nimbus` executable built beside the test bundle.
    public static var nimbus: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return dir.appendingPathComponent("nimbus").path
    }
}

/// A fresh temporary directory.
public func makeTempDirectory(_ tag: String = "nimbus") -> String {
    var template = Array("/tmp/\(tag)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

/// Writes frames as an Ethernet pcap (nanosecond timestamps).
public func writePcap(_ path: String, _ frames: [(UInt64, [UInt8])], linkType: UInt32 = 1) throws {
    let w = try PcapWriter(path: path, linkType: linkType)
    for (t, f) in frames { try f.withUnsafeBytes { try w.write(timestamp: t, bytes: $0) } }
    try w.commit()
}

/// Reads every record of a capture.
public func readPcap(_ path: String) throws -> [(timestamp: UInt64, bytes: [UInt8])] {
    let r = try CaptureReader(path: path)
    var out: [(UInt64, [UInt8])] = []
    while let rec = try r.next() { out.append((rec.timestamp, Array(rec.bytes))) }
    return out
}

public struct CommandResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a program and collects its output; `environment` replaces this process's when given.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self))
}

/// Whether this process may mount file systems and make network namespaces: root with CAP_SYS_ADMIN in
/// its effective capabilities (a container's root often lacks it). Read from /proc/self/status.
public let hasSysAdmin: Bool = {
    guard geteuid() == 0, let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
          let effective = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    else { return false }
    return effective & (1 << 21) != 0   // CAP_SYS_ADMIN
}()

/// The path of a tool when it is installed.
public func tool(_ name: String) -> String? {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

extension Array where Element == UInt8 {
    public func u16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    public func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) << 16 | UInt32(u16(o + 2)) }
    public func mac(_ o: Int) -> MACAddress { MACAddress(value: UInt64(u16(o)) << 32 | UInt64(u32(o + 2))) }
    public func ip(_ o: Int) -> IPv4Address { IPv4Address(value: u32(o)) }
}

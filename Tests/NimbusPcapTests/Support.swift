// Shared helpers for the NimbusPcap tests: private temporary directories, file and directory reading,
// reading a whole capture back through CaptureReader, and little-endian parsing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NimbusPcap
import Testing

/// Bytes from a hex string; whitespace is ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// Runs `body` with a fresh directory `/tmp/nimbus-pcaptests-XXXXXX` (mkdtemp), removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("/tmp/nimbus-pcaptests-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let dir = try #require(made.map { String(cString: $0) }, "mkdtemp failed: \(String(cString: strerror(errno)))")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// Every entry of a directory, hidden ones included, sorted.
func listing(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return ["<cannot open \(dir)>"] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func readFile(_ path: String) throws -> [UInt8] {
    try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// One record as read back: nanosecond timestamp, captured bytes, original length.
struct Record: Equatable {
    var timestamp: UInt64
    var bytes: [UInt8]
    var originalLength: Int
}

/// Opens `path` with CaptureReader and reads every record.
func readCapture(_ path: String) throws -> (linkType: LinkType, records: [Record]) {
    let reader = try CaptureReader(path: path)
    var out: [Record] = []
    while let r = try reader.next() {
        out.append(Record(timestamp: r.timestamp, bytes: Array(r.bytes), originalLength: r.originalLength))
        #expect(reader.recordNumber == out.count)
    }
    #expect(try reader.next() == nil, "stays at the end")
    return (reader.linkType, out)
}

/// The CaptureError `body` threw, or nil (recording an issue for any other outcome).
func captureError(_ body: () throws -> Void) -> CaptureError? {
    do {
        try body()
        return nil
    } catch let e as CaptureError {
        return e
    } catch {
        Issue.record("not a CaptureError: \(error)")
        return nil
    }
}

func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}
func le32Bytes(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

/// A deterministic byte pattern for packet contents.
func pattern(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }

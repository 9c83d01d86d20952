#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display on standard error for long replays: percent of input read, packets, rate.
/// Redrawn at most five times a second; the line is cleared when done.
struct Progress {
    let totalBytes: Int
    var bytes = 0
    var packets = 0
    var lastDraw = 0.0
    let start = monotonicSeconds()
    var drawn = false

    init(totalBytes: Int) { self.totalBytes = max(totalBytes, 1) }

    mutating func update(bytes b: Int, packets p: Int) {
        bytes += b
        packets += p
        guard packets & 1023 == 0 else { return }
        let now = monotonicSeconds()
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        let fraction = min(1.0, Double(bytes) / Double(totalBytes))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = Double(packets) / max(now - start, 1e-9) / 1e6
        let line = "\r[\(bar)] \(Int(fraction * 100))%  \(packets) packets  \(format(rate, 2)) Mpps "
        writeStandardError(line)
        drawn = true
    }

    func finish() {
        if drawn { writeStandardError("\r\u{1B}[K") }
    }
}

func writeStandardError(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

// libFuzzer target: the capture reader (libpcap, and Nimbus's own pcapng fallback) on arbitrary files.
//
// The input is written to a temporary file and read to the end with `CaptureReader`; every record is
// then pushed through the link-layer adapter into a batch on the internet port, as the replay does.
// Opening or reading may throw a `CaptureError` (whose message must name the file), never trap; a record
// never claims more bytes than it has.
import FuzzSupport
import NimbusDataplane
import NimbusPcap
import NimbusReplay
import NimbusWire

#if canImport(Glibc)
import Glibc
#endif

let path: String = {
    var template = Array("/tmp/nimbus-fuzz-capture-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    if fd < 0 { fuzzFailure("mkstemp failed") }
    close(fd)
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}()

nonisolated(unsafe) var batch = PacketBatch()
let adapter = LinkLayerAdapter(sourceMAC: MACAddress(2, 0, 0, 0, 0xFF, 0xFE), routerMAC: MACAddress(2, 0, 0, 0, 0, 1))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0o600)
    if fd < 0 { fuzzFailure("cannot write \(path)") }
    var written = 0
    while written < size {
        let n = write(fd, data + written, size - written)
        if n <= 0 { fuzzFailure("short write to \(path)") }
        written += n
    }
    close(fd)

    let reader: CaptureReader
    do {
        reader = try CaptureReader(path: path)
    } catch {
        if !error.message.contains(path) { fuzzFailure("open error does not name the file: \(error.message)") }
        return 0
    }
    batch.reset()
    var records = 0
    while true {
        let record: CaptureRecord?
        do {
            record = try reader.next()
        } catch {
            if !error.message.contains(path) { fuzzFailure("read error does not name the file: \(error.message)") }
            break
        }
        guard let record else { break }
        records += 1
        if records > 1_000_000 { fuzzFailure("more than a million records from \(size) bytes") }
        // Touch every byte of the record: ASan reports a record that points past its buffer.
        var sum: UInt8 = 0
        for b in record.bytes { sum &+= b }
        _ = sum
        if batch.isFull { batch.reset() }
        _ = adapter.append(record.bytes, linkType: record.linkType, timestamp: record.timestamp, port: 0, to: &batch)
        if reader.recordNumber < 0 { fuzzFailure("negative record number") }
    }
    return 0
}

/// The entry point: SwiftPM links `main` to `FuzzCapture_main`, which hands over to libFuzzer's driver.
@_cdecl("FuzzCapture_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data!, size) }
}

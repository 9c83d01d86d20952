// The real-world corpus (../shared/corpus/pcaps beside the repository): every capture either reads to the end
// or fails with a CaptureError, never a crash; enough files open and the expected link types all appear. The
// Ethernet records also go through the NimbusWire views.
import Foundation
import NimbusPcap
import NimbusWire
import Testing

/// `<repo root>/../shared/corpus/pcaps`, the repository root being three levels above this file.
private func corpusDirectory(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.deletingLastPathComponent().appendingPathComponent("shared/corpus/pcaps").standardizedFileURL.path
}

/// Parses an Ethernet frame down to the transport header; only the absence of a crash matters here.
private func parse(_ frame: [UInt8]) -> Int {
    var copy = frame
    return copy.withUnsafeMutableBytes { buffer -> Int in
        let raw = RawBytes(buffer)
        guard let eth = try? EthernetFrame(raw) else { return 0 }
        var layers = 1
        if let ip = try? IPv4Header(eth.payload) {
            layers += 1
            _ = ip.isHeaderChecksumValid
            if (try? TCPHeader(ip.payload)).map({ (try? $0.parsedOptions()) != nil }) != nil { layers += 1 }
            if let u = try? UDPHeader(ip.payload) { _ = u.isChecksumValid(source: ip.source, destination: ip.destination) }
            if let m = try? ICMPHeader(ip.payload) { _ = m.isChecksumValid }
        } else if let ip = try? IPv6Header(eth.payload) {
            layers += 1
            _ = ip.fragmentOffset
            _ = try? TCPHeader(ip.upperPayload).parsedOptions()
            _ = try? UDPHeader(ip.upperPayload)
            _ = try? ICMPv6Header(ip.upperPayload)
        } else if (try? ARPPacket(eth.payload)) != nil {
            layers += 1
        }
        return layers
    }
}

/// The corpus directory (computed here, not in the @Test trait: `#filePath` must name this file).
private let corpusPath = corpusDirectory()

/// Whether the corpus directory is there.
private func corpusIsPresent() -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: corpusPath, isDirectory: &isDirectory) && isDirectory.boolValue
}

@Test(.enabled(if: corpusIsPresent(), "no corpus at \(corpusPath)"))
func everyCorpusFileReadsOrFailsCleanly() throws {
    let dir = corpusDirectory()
    let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }
        .sorted()
    var opened = 0, refused: [String] = [], readErrors: [String] = [], records = 0, ethernetLayers = 0
    var linkTypes: Set<LinkType> = []
    for name in files {
        let path = dir + "/" + name
        let reader: CaptureReader
        do {
            reader = try CaptureReader(path: path)
        } catch {
            #expect(error.message.contains(path), "\(error.message)")
            refused.append("\(name): \(error.message)")
            continue
        }
        opened += 1
        linkTypes.insert(reader.linkType)
        do {
            while let r = try reader.next() {
                records += 1
                #expect(r.bytes.count <= r.originalLength || r.originalLength == 0, "\(name) record \(reader.recordNumber)")
                if reader.linkType == .ethernet { ethernetLayers += parse(Array(r.bytes)) }
            }
        } catch {
            #expect(error.message.contains(path), "\(error.message)")
            #expect(error.message.contains("record \(reader.recordNumber + 1)"), "\(error.message)")
            readErrors.append("\(name): \(error.message)")
        }
    }
    print("corpus: \(files.count) files, \(opened) opened, \(records) records, link types \(linkTypes.map(\.name).sorted())")
    if !refused.isEmpty { print("corpus: refused at open:\n  " + refused.joined(separator: "\n  ")) }
    if !readErrors.isEmpty { print("corpus: read errors:\n  " + readErrors.joined(separator: "\n  ")) }
    #expect(opened >= 150, "only \(opened) of \(files.count) files opened")
    #expect(records > 1_000)
    #expect(ethernetLayers > records)
    for needed in [LinkType.ethernet, .linuxSLL, .linuxSLL2, .null] {
        #expect(linkTypes.contains(needed), "no \(needed.name) capture in the corpus")
    }
    #expect(!linkTypes.isDisjoint(with: [.raw, .rawAlt, .ipv4, .ipv6]), "no raw-IP capture in the corpus")
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Yams

/// Reads and validates topology files.
public enum TopologyLoader {
    /// Loads the topology file at `path`; diagnostics name the file as `path` was given.
    ///
    /// - Throws: every problem in the file at once; an unreadable file is one diagnostic at 1:1.
    public static func load(path: String) throws(TopologyError) -> Topology {
        switch readFile(path) {
        case .success(let text):
            return try load(yaml: text, file: path)
        case .failure(let reason):
            throw TopologyError(diagnostics: [
                Diagnostic(file: path, line: 1, column: 1, message: "cannot read topology file: \(reason.message)"),
            ])
        }
    }

    /// Loads a topology from YAML text; `file` is the name diagnostics give it.
    public static func load(yaml: String, file: String) throws(TopologyError) -> Topology {
        let sink = DiagnosticSink(file: file)
        let root: Yams.Node
        switch composeYAML(yaml, sink: sink) {
        case .failed:
            throw sink.topologyError
        case .empty:
            sink.error("the file is empty; a topology starts with 'version: 1'", at: .start)
            throw sink.topologyError
        case .root(let node):
            root = node
        }
        let draft = TopologyReader(sink: sink).read(root)
        Validator(sink: sink, draft: draft).validate()
        guard !sink.hasErrors, let topology = Assembler(sink: sink, file: file).assemble(draft) else {
            throw sink.topologyError
        }
        return topology
    }

    private struct ReadFailure: Error {
        var message: String
    }

    /// POSIX rather than Foundation, for the system's own wording ("No such file or directory").
    private static func readFile(_ path: String) -> Result<String, ReadFailure> {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return .failure(ReadFailure(message: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(message: String(cString: strerror(errno))))
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(ReadFailure(message: "not UTF-8 text"))
        }
        return .success(text)
    }
}

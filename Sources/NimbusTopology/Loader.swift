import Foundation
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

    /// Reads the file through Foundation, naming the common failures in the system's own words
    /// ("No such file or directory"), which is what users know from every other tool. (This module
    /// compiles under strict memory safety checking, so it does not call the C library with pointers.)
    private static func readFile(_ path: String) -> Result<String, ReadFailure> {
        let files = FileManager.default
        guard files.fileExists(atPath: path) else { return .failure(ReadFailure(message: "No such file or directory")) }
        if (try? files.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeDirectory {
            return .failure(ReadFailure(message: "Is a directory"))
        }
        guard files.isReadableFile(atPath: path), let data = files.contents(atPath: path) else {
            return .failure(ReadFailure(message: "Permission denied"))
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .failure(ReadFailure(message: "not UTF-8 text"))
        }
        return .success(text)
    }
}

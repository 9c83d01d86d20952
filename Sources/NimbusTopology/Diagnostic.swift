/// One problem found in a topology file, pointing at the offending key or value.
///
/// The description is the compiler-style `FILE:LINE:COLUMN: error: MESSAGE`, which editors and
/// terminals turn into a jump-to-location link.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in Unicode scalars (as libyaml counts them).
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): error: \(message)" }
}

/// Everything wrong with a topology file, sorted by position, so a user can fix them all in one pass.
public struct TopologyError: Error, Sendable, CustomStringConvertible {
    /// Sorted by line, then column; diagnostics at the same position keep the order they were found in.
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        // `sorted` is not guaranteed stable, so the original index breaks ties.
        self.diagnostics = diagnostics.enumerated()
            .sorted { ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset) }
            .map(\.element)
    }

    /// One diagnostic per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A position in the YAML text (1-based line and column).
struct Position: Hashable, Comparable, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int

    static let start = Position(line: 1, column: 1)

    static func < (a: Position, b: Position) -> Bool { (a.line, a.column) < (b.line, b.column) }

    /// How messages refer back to an earlier place in the same file.
    var description: String { "line \(line), column \(column)" }
}

/// Collects diagnostics while a file is read and checked; never stops at the first one.
final class DiagnosticSink {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Placeholder key text → original key text, for duplicate keys renamed before composing (see `composeYAML`).
    var renamedKeys: [String: String] = [:]

    init(file: String) { self.file = file }

    var hasErrors: Bool { !diagnostics.isEmpty }

    func error(_ message: String, at position: Position) {
        diagnostics.append(Diagnostic(file: file, line: position.line, column: position.column, message: message))
    }

    func error(_ message: String, at position: Position?) {
        error(message, at: position ?? .start)
    }

    var topologyError: TopologyError { TopologyError(diagnostics: diagnostics) }
}

import Yams

// Typed access to composed YAML nodes. Every accessor either returns a value or records a diagnostic
// at the node's position and returns nil, so the readers above can carry on and find further errors.
//
// `what` arguments are noun phrases for messages: "'cidr'", "each entry of 'networks'".

extension Node {
    var position: Position {
        mark.map { Position(line: $0.line, column: $0.column) } ?? .start
    }

    /// A plain `~`, `null` or nothing at all; a quoted `""` is an empty string, not null.
    var isNull: Bool {
        guard case .scalar(let s) = self, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// What this node is, for "must be X, not Y" messages.
    var kindPhrase: String {
        switch self {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar(let s): isNull ? "empty" : "'\(s.string)'"
        }
    }
}

/// Quotes a key for messages.
func q(_ key: String) -> String { "'\(key)'" }

/// A mapping whose keys were checked: unknown and duplicate keys are reported once, here, and left out.
struct MappingReader {
    let position: Position
    private var values: [String: (keyPosition: Position, value: Node)] = [:]

    /// - Parameters:
    ///   - context: names the mapping in messages, e.g. "network" in "unknown key 'x' in network".
    ///   - allowed: every key this mapping may have, in the order the error message lists them.
    init?(_ node: Node, _ what: String, context: String, allowed: [String], sink: DiagnosticSink) {
        guard case .mapping(let mapping) = node else {
            sink.error("\(what) must be a mapping, not \(node.kindPhrase)", at: node.position)
            return nil
        }
        position = node.position
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, !keyNode.isNull else {
                sink.error("keys must be plain words, not \(keyNode.kindPhrase)", at: keyNode.position)
                continue
            }
            let key = sink.renamedKeys[scalar.string] ?? scalar.string
            if let first = values[key] {
                sink.error("duplicate key \(q(key)) (first at \(first.keyPosition))", at: keyNode.position)
            } else if !allowed.contains(key) {
                sink.error(
                    "unknown key \(q(key)) in \(context)\(didYouMean(key, among: allowed)) (allowed: \(allowed.joined(separator: ", ")))",
                    at: keyNode.position)
            } else {
                values[key] = (keyNode.position, value)
            }
        }
    }

    subscript(key: String) -> Node? { values[key]?.value }

    func keyPosition(_ key: String) -> Position? { values[key]?.keyPosition }

    /// The value of a key that must be present; a missing key is reported at the mapping.
    func required(_ key: String, in context: String, sink: DiagnosticSink) -> Node? {
        guard let node = values[key]?.value else {
            sink.error("missing required key \(q(key)) in \(context)", at: position)
            return nil
        }
        return node
    }
}

extension DiagnosticSink {
    func list(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            error("\(what) must be a list, not \(node.kindPhrase)", at: node.position)
            return nil
        }
        return Array(sequence)
    }

    /// A scalar's text; `null` and collections are errors.
    func scalar(_ node: Node, _ what: String) -> String? {
        switch node {
        case .scalar(let s) where !node.isNull:
            return s.string
        case .scalar:
            error("\(what) needs a value", at: node.position)
            return nil
        default:
            error("\(what) must be a single value, not \(node.kindPhrase)", at: node.position)
            return nil
        }
    }

    /// A scalar parsed by `parse`, positioned for validation messages that point back at it.
    func value<T>(_ node: Node, _ what: String, _ parse: (String) throws(ValueError) -> T) -> Located<T>? {
        guard let text = scalar(node, what) else { return nil }
        do {
            return Located(value: try parse(text), position: node.position)
        } catch {
            let detail = error.detail.map { ": " + $0 } ?? ""
            self.error("invalid \(error.kind) '\(text)' for \(what)\(detail)", at: node.position)
            return nil
        }
    }

    /// An optional key's value: nil when absent, or when present and invalid (already reported).
    func optional<T>(
        _ reader: MappingReader, _ key: String, _ parse: (String) throws(ValueError) -> T
    ) -> Located<T>? {
        reader[key].flatMap { value($0, q(key), parse) }
    }

    /// A required key's value.
    func required<T>(
        _ reader: MappingReader, _ key: String, in context: String, _ parse: (String) throws(ValueError) -> T
    ) -> Located<T>? {
        reader.required(key, in: context, sink: self).flatMap { value($0, q(key), parse) }
    }

    /// Ports as a scalar (`22`, `"80,443"`, `"80,8000-8080"`) or a list of such scalars.
    func ports(_ node: Node, _ what: String) -> [ClosedRange<UInt16>]? {
        guard case .sequence(let items) = node else { return value(node, what, parsePortList)?.value }
        var ranges: [ClosedRange<UInt16>] = []
        var ok = true
        for item in items {
            if let r = value(item, "each entry of \(what)", parsePortList) { ranges += r.value } else { ok = false }
        }
        return ok ? ranges : nil
    }

    /// A list of scalars, each parsed; entries that fail are reported and left out.
    func listOfValues<T>(_ node: Node, _ what: String, _ parse: (String) throws(ValueError) -> T) -> [Located<T>]? {
        guard let items = list(node, what) else { return nil }
        return items.compactMap { value($0, "each entry of \(what)", parse) }
    }
}

/// A value and where it was written, so later checks can point at it.
struct Located<T> {
    var value: T
    var position: Position
}

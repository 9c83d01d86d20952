/// Quoting for the two kinds of string a DOT file holds.
public enum DOT {
    /// `text` as a DOT double-quoted string, for IDs and plain attribute values.
    ///
    /// DOT's only escape inside quotes is `\"`, but the renderers read backslash sequences in labels
    /// (`\n`, `\N` for the node's name, `\G`, `\l`, ...), so backslashes are doubled as well: a label
    /// shows exactly `text`, and a backslash at the end cannot swallow the closing quote. A line break
    /// becomes `\n`; other control characters, which no renderer can show, become U+FFFD.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(isControl(scalar) ? "\u{FFFD}" : scalar)
            }
        }
        return out + "\""
    }

    /// `text` as character data inside an HTML-like label (`label=<...>`).
    ///
    /// Graphviz parses those labels as XML, so `&`, `<`, `>` and the quotes become entities, and
    /// control characters, which XML 1.0 forbids even as references, become U+FFFD.
    public static func html(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(isControl(scalar) ? "\u{FFFD}" : scalar)
            }
        }
        return out
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || scalar.value == 0x7F
    }
}

/// One `name=value` of a DOT attribute list, its value already in DOT syntax.
struct Attribute {
    var name: String
    var value: String

    /// A plain value, quoted.
    static func string(_ name: String, _ value: String) -> Attribute {
        Attribute(name: name, value: DOT.quoted(value))
    }

    /// An HTML-like label.
    static func label(_ label: Label) -> Attribute {
        Attribute(name: "label", value: "<\(label.html)>")
    }
}

/// A label of a bold title and smaller detail, as an HTML-like label so that the title stands out
/// without a second node: the detail on lines of its own (nodes) or after the title (cluster boxes,
/// whose labels sit on their top edge).
struct Label {
    var title: String
    var lines: [String] = []
    var inline: String?

    init(title: String, lines: [String] = []) {
        self.title = title
        self.lines = lines
    }

    init(title: String, inline: String) {
        self.title = title
        self.inline = inline
    }

    var html: String {
        var text = "<b>\(DOT.html(title))</b>"
        if let inline { text += "<font point-size=\"9\">  \(DOT.html(inline))</font>" }
        for line in lines { text += "<br/><font point-size=\"9\">\(DOT.html(line))</font>" }
        return text
    }
}

/// A DOT document, written statement by statement and indented by nesting.
struct DOTWriter {
    private(set) var text = ""
    private var depth = 0

    /// Opens `graph`/`digraph`/`subgraph ID {`; every `open` needs its `close`.
    mutating func open(_ keyword: String, _ id: String) {
        line("\(keyword) \(DOT.quoted(id)) {")
        depth += 1
    }

    mutating func close() {
        depth -= 1
        line("}")
    }

    /// Attributes of the graph or subgraph being written.
    mutating func set(_ attributes: [Attribute]) {
        for a in attributes { line("\(a.name)=\(a.value);") }
    }

    /// Default attributes for what follows: `kind` is `graph`, `node` or `edge`.
    mutating func defaults(_ kind: String, _ attributes: [Attribute]) {
        line("\(kind) \(list(attributes));")
    }

    mutating func node(_ id: String, _ attributes: [Attribute]) {
        line("\(DOT.quoted(id)) \(list(attributes));")
    }

    mutating func edge(_ from: String, _ to: String, _ attributes: [Attribute] = []) {
        let tail = attributes.isEmpty ? "" : " " + list(attributes)
        line("\(DOT.quoted(from)) -> \(DOT.quoted(to))\(tail);")
    }

    mutating func comment(_ text: String) {
        line("// " + text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " "))
    }

    private func list(_ attributes: [Attribute]) -> String {
        "[" + attributes.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + "]"
    }

    private mutating func line(_ s: String) {
        text += String(repeating: "  ", count: depth) + s + "\n"
    }
}

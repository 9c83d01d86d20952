import Yams

/// Composes YAML text into nodes that keep their positions.
///
/// Yams rejects a mapping with duplicate keys outright, which would hide every other error in the
/// file. So each time it does, the first of the duplicated keys is renamed in the text to a
/// placeholder of the same length in Unicode scalars (private-use characters, which YAML allows in
/// plain scalars), keeping every position intact, and the text is composed again. `MappingReader`
/// maps placeholders back and reports the duplicates itself, at the later key.
///
/// What composing produced; `.failed` once a diagnostic says why.
enum ComposeOutcome {
    case empty
    case root(Node)
    case failed
}

func composeYAML(_ text: String, sink: DiagnosticSink) -> ComposeOutcome {
    var text = text
    // Each round renames one key; the bound only guards against a Yams behaviour we did not foresee.
    for round in 0..<4096 {
        do {
            return try Yams.compose(yaml: text).map(ComposeOutcome.root) ?? .empty
        } catch let error as YamlError {
            switch error {
            case .duplicatedKeysInMapping(let duplicates, let context):
                let position = Position(line: context.mark.line, column: context.mark.column)
                guard let key = duplicates.first,
                      let placeholder = placeholder(number: round, length: key.unicodeScalars.count),
                      let renamed = renameKey(key, at: position, to: placeholder, in: text)
                else {
                    sink.error("duplicate key '\(duplicates.first ?? "?")' in mapping", at: position)
                    return .failed
                }
                sink.renamedKeys[placeholder] = key
                text = renamed
            case .scanner(let context, let problem, let mark, _),
                 .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                var message = "invalid YAML: \(problem)"
                if let context {
                    message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
                }
                sink.error(message, at: Position(line: mark.line, column: mark.column))
                return .failed
            case .reader(let problem, let offset, _, let yaml):
                sink.error("invalid YAML: \(problem)", at: offset.map { position(ofCharacterOffset: $0, in: yaml) })
                return .failed
            default:
                sink.error("invalid YAML: \(error)", at: .start)
                return .failed
            }
        } catch {
            sink.error("invalid YAML: \(error)", at: .start)
            return .failed
        }
    }
    sink.error("too many duplicate keys", at: .start)
    return .failed
}

/// A string of `length` private-use scalars whose first scalar encodes `number`.
private func placeholder(number: Int, length: Int) -> String? {
    guard length > 0, let first = Unicode.Scalar(0xE000 + UInt32(number)), let fill = Unicode.Scalar(0xE000) else {
        return nil
    }
    var s = String.UnicodeScalarView()
    s.append(first)
    for _ in 1..<max(length, 1) { s.append(fill) }
    return String(s)
}

/// Replaces the key text starting at `position` (after an opening quote, if any), or nil when the text
/// there is not the key written plainly.
private func renameKey(_ key: String, at position: Position, to placeholder: String, in text: String) -> String? {
    var scalars = Array(text.unicodeScalars)
    guard var index = scalarIndex(of: position, in: scalars) else { return nil }
    if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" { index += 1 }
    let keyScalars = Array(key.unicodeScalars)
    guard index + keyScalars.count <= scalars.count,
          Array(scalars[index..<(index + keyScalars.count)]) == keyScalars else { return nil }
    scalars.replaceSubrange(index..<(index + keyScalars.count), with: Array(placeholder.unicodeScalars))
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}

/// Line breaks as libyaml counts them: CR LF, CR, LF, NEL, LS, PS.
private func scalarIndex(of position: Position, in scalars: [Unicode.Scalar]) -> Int? {
    var line = 1, i = 0
    while line < position.line {
        guard i < scalars.count else { return nil }
        let c = scalars[i]
        i += 1
        if c == "\r" {
            if i < scalars.count, scalars[i] == "\n" { i += 1 }
            line += 1
        } else if c == "\n" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}" {
            line += 1
        }
    }
    let index = i + position.column - 1
    return index <= scalars.count ? index : nil
}

private func position(ofCharacterOffset offset: Int, in text: String) -> Position {
    var line = 1, column = 1
    for c in text.prefix(offset) {
        if c == "\n" || c == "\r\n" || c == "\r" {
            line += 1
            column = 1
        } else {
            column += c.unicodeScalars.count
        }
    }
    return Position(line: line, column: column)
}

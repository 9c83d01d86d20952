/// Parses `7440s`, `12.5s`, `250ms`, `5m`, `1h` (also `us`, `ns`), or a bare number of seconds, into
/// nanoseconds. Decimal arithmetic throughout, so `12.5s` is exactly 12_500_000_000 and no binary
/// floating-point rounding leaks into replay timing.
func parseDuration(_ text: String) throws(ValueError) -> UInt64 {
    let units: [(suffix: String, nanoseconds: UInt64)] = [
        ("ms", 1_000_000), ("us", 1_000), ("µs", 1_000), ("ns", 1), ("s", 1_000_000_000),
        ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]
    let failure = ValueError(kind: "duration", detail: "use a number with a unit: 300s, 12.5s, 250ms, 5m, 1h")
    var number = Substring(text)
    var scale: UInt64 = 1_000_000_000
    // Two-letter units first, so `ms` is not read as minutes.
    if let unit = units.first(where: { text.hasSuffix($0.suffix) }) {
        number = number.dropLast(unit.suffix.count)
        scale = unit.nanoseconds
    }
    let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit),
          let wholeValue = UInt64(whole) else { throw failure }
    var total = wholeValue.multipliedReportingOverflow(by: scale)
    guard !total.overflow else { throw ValueError(kind: "duration", detail: "too long") }
    if parts.count == 2 {
        let fraction = parts[1]
        guard !fraction.isEmpty, fraction.allSatisfy(\.isASCIIDigit) else { throw failure }
        // Each fractional digit is worth a tenth of the previous; digits past 1 ns must be zeros.
        var place = scale
        for digit in fraction {
            let d = UInt64(digit.asciiValue ?? 48) - 48
            if place % 10 != 0 {
                guard d == 0 else { throw ValueError(kind: "duration", detail: "finer than a nanosecond") }
                continue
            }
            place /= 10
            total = total.partialValue.addingReportingOverflow(d * place)
            guard !total.overflow else { throw ValueError(kind: "duration", detail: "too long") }
        }
    }
    return total.partialValue
}

/// The shortest exact spelling of a duration that `parseDuration` reads back, for summaries.
func formatDuration(_ nanoseconds: UInt64) -> String {
    if nanoseconds == 0 { return "0s" }
    let units: [(String, UInt64)] = [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000)]
    for (suffix, size) in units where nanoseconds >= size && nanoseconds % size == 0 {
        return "\(nanoseconds / size)\(suffix)"
    }
    if nanoseconds % 1_000_000 == 0 {
        let ms = nanoseconds / 1_000_000
        return ms >= 1000 ? decimalSeconds(nanoseconds) : "\(ms)ms"
    }
    return nanoseconds >= 1_000_000_000 ? decimalSeconds(nanoseconds) : "\(nanoseconds)ns"
}

private func decimalSeconds(_ nanoseconds: UInt64) -> String {
    var fraction = String(nanoseconds % 1_000_000_000)
    fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
    while fraction.hasSuffix("0") { fraction.removeLast() }
    return "\(nanoseconds / 1_000_000_000).\(fraction)s"
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

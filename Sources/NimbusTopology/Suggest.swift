/// The candidate a misspelt `word` most likely meant, for "did you mean" hints; nil when none is close.
///
/// Closeness is the optimal-string-alignment distance, so a swapped pair of letters counts as one edit.
func closestMatch(to word: String, among candidates: some Sequence<String>) -> String? {
    let limit = max(1, min(3, (word.count + 1) / 3))
    var best: (name: String, distance: Int)?
    // A truncated word ("vers" for "version") is a likely slip that edit distance alone misses.
    if word.count >= 3, let extended = candidates.first(where: { $0.hasPrefix(word) && $0 != word }) {
        return extended
    }
    for candidate in candidates where candidate != word {
        let d = editDistance(word.lowercased(), candidate.lowercased())
        // An edit count as long as either word means nothing is shared: no hint ("c" is not "a").
        if d <= limit, d < word.count, d < candidate.count, d < (best?.distance ?? Int.max) {
            best = (candidate, d)
        }
    }
    return best?.name
}

/// `"; did you mean 'x'?"`, or nothing.
func didYouMean(_ word: String, among candidates: some Sequence<String>) -> String {
    closestMatch(to: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

/// Pareto arithmetic on score vectors, higher better in every coordinate (``Objective/score(_:)``
/// turns a minimized metric round): dominance, non-dominated sorting, crowding distance and
/// hypervolume. Pure functions over plain arrays, shared by the leaderboard, the pruners and the
/// samplers.
public enum Pareto {
    /// Whether `a` dominates `b`: at least as good everywhere and better somewhere.
    @inlinable public static func dominates(_ a: [Double], _ b: [Double]) -> Bool {
        var better = false
        for index in a.indices {
            if a[index] < b[index] { return false }
            if a[index] > b[index] { better = true }
        }
        return better
    }

    /// The front of every point, from 1 (non-dominated) up: a point's front is one more than the
    /// highest front of the points dominating it (Deb's non-dominated sorting). Equal points share
    /// a front. Points are taken in lexicographic order, best first, and each is placed in the first
    /// front none of whose members dominates it (efficient non-dominated sort, Zhang et al. 2015):
    /// O(M·N·F) comparisons for F fronts, where Deb's algorithm always makes O(M·N²).
    public static func fronts(_ points: [[Double]]) -> [Int] {
        let order = points.indices.sorted { a, b in
            for (x, y) in zip(points[a], points[b]) where x != y { return x > y }
            return a < b
        }
        if points.first?.count == 2 { return fronts2D(points, order) }
        var members: [[Int]] = [], front = [Int](repeating: 0, count: points.count)
        for index in order {
            // A member added last is the likeliest to dominate: search each front backwards.
            let placed = members.firstIndex { group in !group.reversed().contains { dominates(points[$0], points[index]) } }
            if let placed {
                members[placed].append(index)
                front[index] = placed + 1
            } else {
                members.append([index])
                front[index] = members.count
            }
        }
        return front
    }

    /// Two objectives, in O(N log N): taken in `order` (best first in x), a point is dominated by a
    /// front exactly when the front's highest y is above its own, or equal and reached at a larger
    /// x; fronts' highest y only fall from front to front and a front that does not dominate a
    /// point has no later one that does, so the first such front is found by bisection.
    static func fronts2D(_ points: [[Double]], _ order: [Int]) -> [Int] {
        var highest: [(y: Double, x: Double)] = [], front = [Int](repeating: 0, count: points.count)
        for index in order {
            let (x, y) = (points[index][0], points[index][1])
            var low = 0, high = highest.count
            while low < high {
                let middle = (low + high) / 2
                let top = highest[middle]
                if top.y > y || (top.y == y && top.x > x) { low = middle + 1 } else { high = middle }
            }
            if low == highest.count {
                highest.append((y, x))
            } else if y > highest[low].y {
                highest[low] = (y, x)
            }
            front[index] = low + 1
        }
        return front
    }

    /// Each point's crowding distance within its own set (pass one front): per objective, the gap
    /// between its two neighbours over the objective's range, summed; the extremes of any
    /// objective get +∞ (NSGA-II, Deb et al. 2002). Larger is lonelier, so preferred.
    public static func crowding(_ points: [[Double]]) -> [Double] {
        guard points.count > 2 else { return [Double](repeating: .infinity, count: points.count) }
        var distance = [Double](repeating: 0, count: points.count)
        for objective in points[0].indices {
            let order = points.indices.sorted { (points[$0][objective], $0) < (points[$1][objective], $1) }
            let low = points[order.first!][objective], high = points[order.last!][objective]
            distance[order.first!] = .infinity
            distance[order.last!] = .infinity
            guard high > low else { continue }
            for position in 1..<(order.count - 1) {
                distance[order[position]] +=
                    (points[order[position + 1]][objective] - points[order[position - 1]][objective]) / (high - low)
            }
        }
        return distance
    }

    /// Every point ranked: front first, then crowding distance within the front (larger first),
    /// then the order given (earlier first). Returns each point's front and its position in the
    /// ranking (0 is best): NSGA-II's order, which the leaderboard, MOASHA and NSGA-II share.
    public static func rank(_ points: [[Double]]) -> (fronts: [Int], order: [Int]) {
        let fronts = fronts(points)
        var crowding = [Double](repeating: 0, count: points.count)
        var members = [[Int]](repeating: [], count: fronts.max() ?? 0)
        for index in points.indices { members[fronts[index] - 1].append(index) }
        for front in members {
            for (member, distance) in zip(front, Self.crowding(front.map { points[$0] })) { crowding[member] = distance }
        }
        let order = points.indices.sorted { a, b in
            (fronts[a], -crowding[a], a) < (fronts[b], -crowding[b], b)
        }
        return (fronts, order)
    }

    /// The volume of the region that the points dominate and that dominates `reference` (points
    /// not strictly better than the reference in every coordinate add nothing). Exact: a sweep in
    /// two dimensions, slicing along the last coordinate above that (O(N^(d−1)·log N)).
    public static func hypervolume(_ points: [[Double]], reference: [Double]) -> Double {
        let inside = points.filter { point in zip(point, reference).allSatisfy { $0 > $1 } }
        guard !inside.isEmpty else { return 0 }
        return volume(nonDominated(inside), reference)
    }

    /// `count` of the points chosen one at a time, each the one adding the most hypervolume to
    /// those chosen before (ties: the earlier point): the greedy answer to the hypervolume subset
    /// selection problem, as Optuna's `_solve_hssp` gives it. Positions, in the order chosen.
    /// Lazily: a point's gain only shrinks as others are chosen (hypervolume is submodular), so a
    /// gain worked out in an earlier round bounds it, and only the leading candidate's gain is
    /// worked out again, until the leader's gain is current: the same choices as trying every
    /// point every round, at a fraction of the hypervolumes.
    public static func greatestHypervolumeSubset(_ points: [[Double]], count: Int, reference: [Double]) -> [Int] {
        var chosen: [Int] = [], chosenPoints: [[Double]] = [], volume = 0.0
        var bound = points.map { hypervolume([$0], reference: reference) }
        var current = [Bool](repeating: true, count: points.count), taken = current.map { _ in false }
        while chosen.count < min(count, points.count) {
            while true {
                // The leader: the largest bound, ties to the earlier point.
                var leader = -1
                for index in points.indices where !taken[index] && (leader < 0 || bound[index] > bound[leader]) { leader = index }
                if current[leader] {
                    chosen.append(leader)
                    chosenPoints.append(points[leader])
                    taken[leader] = true
                    volume += bound[leader]
                    current = current.map { _ in false }
                    break
                }
                bound[leader] = hypervolume(chosenPoints + [points[leader]], reference: reference) - volume
                current[leader] = true
            }
        }
        return chosen
    }

    /// A reference point just worse than every point in every coordinate (by a tenth of the
    /// coordinate's magnitude, at least 1e-12), so every point adds volume: what a sampler uses
    /// when no reference is given (Optuna's rule for its hypervolume-based splits).
    public static func nadirReference(_ points: [[Double]]) -> [Double] {
        points[0].indices.map { coordinate in
            let worst = points.map { $0[coordinate] }.min()!
            return worst - max(abs(worst) * 0.1, 1e-12)
        }
    }

    /// The region no point dominates and every point of which dominates `reference`, as disjoint
    /// boxes (lower, upper; an upper coordinate may be +∞), for any number of objectives: a point
    /// adds to the points' hypervolume exactly its overlap with these boxes. Lacour, Klamroth and
    /// Fonseca's algorithm (2017), twice, as Optuna's `get_non_dominated_box_bounds` runs it: the
    /// upper bound set of the points (in losses, negated scores) gives the corners of the
    /// dominated region, and the upper bound set of those corners, with the box of each, partitions
    /// what lies beyond them. O(N^⌊M/2⌋) boxes for N points and M objectives.
    public static func nonDominatedBoxes(_ points: [[Double]], reference: [Double]) -> [(lower: [Double], upper: [Double])] {
        let inside = points.filter { point in zip(point, reference).allSatisfy { $0 > $1 } }
        let losses = lexicographic(nonDominated(inside).map { $0.map { -$0 } })
        let corners = upperBoundSet(losses, reference: reference.map { -$0 }).bounds
        // The corners in scores, the minimal ones (the negation of the maximal in losses).
        let infinity = [Double](repeating: .infinity, count: reference.count)
        let (bounds, defining) = upperBoundSet(lexicographic(nonDominated(corners).map { $0.map { -$0 } }), reference: infinity)
        var boxes: [(lower: [Double], upper: [Double])] = []
        for (bound, definers) in zip(bounds, defining) {
            // Lacour et al.'s eq. 2: the box below each bound, from its defining points.
            var lower = [definers[0][0]], upper = [Double.infinity]
            for objective in 1..<reference.count {
                lower.append((0..<objective).map { definers[$0][objective] }.max()!)
                upper.append(bound[objective])
            }
            if zip(lower, upper).allSatisfy({ $0 < $1 }) { boxes.append((lower, upper)) }
        }
        return boxes
    }

    /// Points sorted by their first coordinate, then the next, smallest first.
    private static func lexicographic(_ points: [[Double]]) -> [[Double]] {
        points.sorted { a, b in
            for (x, y) in zip(a, b) where x != y { return x < y }
            return false
        }
    }

    /// The upper bound set U(N) of mutually non-dominated points, minimized, in lexicographic order
    /// (Lacour et al. 2017, algorithm 2), with the defining points of each bound: `defining[u][j]`
    /// is the point that fixes bound u's coordinate j (a dummy at the reference's coordinate, −∞
    /// elsewhere, until a point does).
    private static func upperBoundSet(_ points: [[Double]], reference: [Double]) -> (bounds: [[Double]], defining: [[[Double]]]) {
        let m = reference.count
        var bounds = [reference]
        var defining = [(0..<m).map { k in (0..<m).map { $0 == k ? reference[k] : -Double.infinity } }]
        for point in points {
            var keptBounds: [[Double]] = [], keptDefining: [[[Double]]] = [], newBounds: [[Double]] = [], newDefining: [[[Double]]] = []
            for (bound, definers) in zip(bounds, defining) {
                guard zip(point, bound).allSatisfy({ $0 < $1 }) else {
                    keptBounds.append(bound)
                    keptDefining.append(definers)
                    continue
                }
                // The bound splits along each coordinate j where the point is at least every other
                // defining point's j-th coordinate (always along the first: the points are sorted).
                for j in 0..<m where j == 0 || point[j] >= (0..<m).filter({ $0 != j }).map({ definers[$0][j] }).max()! {
                    var split = bound, splitDefiners = definers
                    split[j] = point[j]
                    splitDefiners[j] = point
                    newBounds.append(split)
                    newDefining.append(splitDefiners)
                }
            }
            bounds = keptBounds + newBounds
            defining = keptDefining + newDefining
        }
        return (bounds, defining)
    }

    /// The points no other dominates, duplicates dropped.
    static func nonDominated(_ points: [[Double]]) -> [[Double]] {
        var kept: [[Double]] = []
        for (index, point) in zip(points.indices, fronts(points)) where point == 1 {
            if !kept.contains(points[index]) { kept.append(points[index]) }
        }
        return kept
    }

    private static func volume(_ points: [[Double]], _ reference: [Double]) -> Double {
        let dimensions = reference.count
        switch dimensions {
        case 1: return (points.map { $0[0] }.max() ?? reference[0]) - reference[0]
        case 2:
            // Best first in x; each point adds the strip above the best y so far.
            var area = 0.0, top = reference[1]
            for point in points.sorted(by: { ($0[0], $0[1]) > ($1[0], $1[1]) }) where point[1] > top {
                area += (point[0] - reference[0]) * (point[1] - top)
                top = point[1]
            }
            return area
        default:
            // Slices between consecutive values of the last coordinate, highest first: each slice
            // is the (d−1)-volume of the points reaching it times its height.
            let last = dimensions - 1
            let sorted = points.sorted { $0[last] > $1[last] }
            var total = 0.0, reached: [[Double]] = []
            for (index, point) in sorted.enumerated() {
                reached.append(Array(point[..<last]))
                let floor = index + 1 < sorted.count ? sorted[index + 1][last] : reference[last]
                guard point[last] > floor else { continue }
                total += volume(nonDominated(reached), Array(reference[..<last])) * (point[last] - floor)
            }
            return total
        }
    }
}

import Foundation

/// Escapes text for HTML element content and attribute values.
func escape(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}

/// A number as the dashboard shows it: 4 decimals, or a compact form for large or tiny values.
func format(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "–" }
    if value != 0 && (abs(value) >= 1e5 || abs(value) < 1e-3) { return String(format: "%.3g", value) }
    return String(format: "%.4f", value)
}

/// A line chart drawn as SVG by the server, with its data as a table behind a toggle (so every
/// chart can be read without seeing it). Each point is a `circle.point` carrying its series and
/// coordinates, one per epoch (or trial) plotted.
struct LineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Draw the points without joining them (e.g. every trial's value beside the best so far).
        var dotsOnly = false
    }

    var id: String
    var title: String
    var xLabel: String
    var series: [Series]
    /// A log₁₀ vertical axis (losses that differ by orders of magnitude).
    var logY = false
    /// A vertical marker, e.g. the best epoch.
    var mark: (label: String, x: Double)?
    /// A horizontal reference line, e.g. the popularity baseline.
    var reference: (label: String, y: Double)?

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    static let (width, height, left, right, top, bottom) = (640.0, 260.0, 56.0, 16.0, 16.0, 36.0)

    var html: String {
        let finite = series.flatMap(\.points).filter { $0.y.isFinite && (!logY || $0.y > 0) }
        guard !finite.isEmpty else {
            return "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption><p class=\"empty\">No data yet.</p></figure>"
        }
        let transform: (Double) -> Double = logY ? { log10($0) } : { $0 }
        var ys = finite.map { transform($0.y) }
        if let reference, !logY || reference.y > 0 { ys.append(transform(reference.y)) }
        var (xLow, xHigh) = (finite.map(\.x).min()!, finite.map(\.x).max()!)
        var (yLow, yHigh) = (ys.min()!, ys.max()!)
        if xHigh == xLow { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
        if yHigh == yLow { (yLow, yHigh) = (yLow - 0.5, yHigh + 0.5) }
        let pad = (yHigh - yLow) * 0.05
        (yLow, yHigh) = (yLow - pad, yHigh + pad)
        let plotWidth = Self.width - Self.left - Self.right, plotHeight = Self.height - Self.top - Self.bottom
        func px(_ x: Double) -> String { String(format: "%.1f", Self.left + (x - xLow) / (xHigh - xLow) * plotWidth) }
        func py(_ y: Double) -> String { String(format: "%.1f", Self.top + (1 - (transform(y) - yLow) / (yHigh - yLow)) * plotHeight) }
        var svg = "<svg viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<rect class=\"plot\" x=\"\(Self.left)\" y=\"\(Self.top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\"/>"
        for step in 0...4 {
            let value = yLow + (yHigh - yLow) * Double(step) / 4
            let y = Self.top + (1 - Double(step) / 4) * plotHeight
            let label = logY ? format(pow(10, value)) : format(value)
            svg += "<line class=\"grid\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(y)\" y2=\"\(y)\"/>"
            svg += "<text class=\"tick\" x=\"\(Self.left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\">\(label)</text>"
        }
        // Epochs and trial counts are whole numbers: label only whole ticks.
        let whole = finite.allSatisfy { $0.x == $0.x.rounded() }
        var xTicks = (0...4).map { xLow + (xHigh - xLow) * Double($0) / 4 }
        if whole {
            let step = max(1, ((xHigh - xLow) / 5).rounded(.up))
            xTicks = stride(from: xLow.rounded(.up), through: xHigh, by: step).map { $0 }
        }
        for value in xTicks {
            let x = Self.left + (value - xLow) / (xHigh - xLow) * plotWidth
            let label = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
            svg += "<text class=\"tick\" x=\"\(String(format: "%.1f", x))\" y=\"\(Self.height - Self.bottom + 14)\" text-anchor=\"middle\">\(label)</text>"
        }
        svg += "<text class=\"axis\" x=\"\(Self.left + plotWidth / 2)\" y=\"\(Self.height - 4)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        if let reference, !logY || reference.y > 0 {
            svg += "<line class=\"reference\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(py(reference.y))\" y2=\"\(py(reference.y))\"><title>\(escape(reference.label)) \(format(reference.y))</title></line>"
        }
        if let mark {
            svg += "<line class=\"mark\" x1=\"\(px(mark.x))\" x2=\"\(px(mark.x))\" y1=\"\(Self.top)\" y2=\"\(Self.height - Self.bottom)\"><title>\(escape(mark.label))</title></line>"
        }
        for (index, series) in series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let points = series.points.filter { $0.y.isFinite && (!logY || $0.y > 0) }
            if !series.dotsOnly && points.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ") + "\"/>"
            }
            for point in points {
                svg += "<circle class=\"point\" data-series=\"\(escape(series.name))\" data-x=\"\(point.x)\" data-y=\"\(point.y)\" cx=\"\(px(point.x))\" cy=\"\(py(point.y))\" r=\"3\" fill=\"\(color)\"><title>\(escape(series.name)) \(format(point.x)): \(format(point.y))</title></circle>"
            }
        }
        svg += "</svg>"
        var legend = "<ul class=\"legend\">"
        for (index, series) in series.enumerated() {
            // An SVG swatch: the page's content security policy allows no inline style.
            legend += "<li><svg class=\"swatch\" viewBox=\"0 0 12 4\"><rect width=\"12\" height=\"4\" fill=\"\(Self.colors[index % Self.colors.count])\"/></svg>\(escape(series.name))</li>"
        }
        if let reference { legend += "<li><span class=\"swatch reference\"></span>\(escape(reference.label))</li>" }
        if let mark { legend += "<li><span class=\"swatch mark\"></span>\(escape(mark.label))</li>" }
        legend += "</ul>"
        return "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))\(logY ? " (log scale)" : "")</figcaption>\(svg)\(legend)\(table)</figure>"
    }

    /// The chart's data as a table, behind a toggle.
    var table: String {
        let xs = Array(Set(series.flatMap { $0.points.map(\.x) })).sorted()
        var html = "<details><summary>Table</summary><table class=\"data\"><thead><tr><th>\(escape(xLabel))</th>"
        for series in series { html += "<th>\(escape(series.name))</th>" }
        html += "</tr></thead><tbody>"
        for x in xs {
            html += "<tr><td>\(x == x.rounded() ? String(Int(x)) : format(x))</td>"
            for series in series { html += "<td>\(format(series.points.first { $0.x == x }?.y))</td>" }
            html += "</tr>"
        }
        return html + "</tbody></table></details>"
    }
}

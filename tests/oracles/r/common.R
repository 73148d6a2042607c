# Shared by the oracle scripts: where the data are, and a JSON writer that keeps every digit.
# Base R only (no jsonlite), so the oracles need nothing beyond r-base-core, survival and cmprsk.
args <- commandArgs(trailingOnly = FALSE)
script_dir <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)][1])))
data_dir <- Sys.getenv("SARCOTRIAL_ORACLE_DATA", file.path(script_dir, "data"))
read_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)

json_scalar <- function(x) {
  if (is.null(x) || length(x) == 0) return("null")
  if (is.na(x)) return("null")
  if (is.logical(x)) return(if (x) "true" else "false")
  if (is.numeric(x)) {
    if (is.infinite(x)) return(if (x > 0) "\"Inf\"" else "\"-Inf\"")
    return(sprintf("%.17g", x))
  }
  paste0("\"", gsub("\"", "\\\\\"", as.character(x)), "\"")
}

# A list becomes an object (names) or array; an atomic vector of length != 1 or wrapped in I() an array.
to_json <- function(x) {
  if (is.list(x)) {
    if (!is.null(names(x)) && all(names(x) != "")) {
      items <- vapply(seq_along(x), function(i) paste0("\"", names(x)[i], "\": ", to_json(x[[i]])), "")
      return(paste0("{", paste(items, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  if (is.matrix(x)) return(to_json(lapply(seq_len(nrow(x)), function(i) as.vector(x[i, ]))))
  if (length(x) == 1 && !inherits(x, "AsIs")) return(json_scalar(x))
  paste0("[", paste(vapply(as.vector(x), json_scalar, ""), collapse = ", "), "]")
}

write_json <- function(x, name) {
  path <- file.path(script_dir, name)
  writeLines(to_json(c(list(generated_by = paste0(R.version.string, "; survival ", packageVersion("survival"),
                                                   if (requireNamespace("cmprsk", quietly = TRUE)) paste0("; cmprsk ", packageVersion("cmprsk")) else "")),
                       x)), path)
  cat("wrote", path, "\n")
}

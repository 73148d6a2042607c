# Exact binomial test and Clopper-Pearson interval (stats::binom.test). Output: binom.json
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "common.R"))
cases <- list(
  list(x = 7, n = 20, p = 0.2, alternative = "greater", level = 0.95),
  list(x = 7, n = 20, p = 0.2, alternative = "two.sided", level = 0.95),
  list(x = 2, n = 25, p = 0.3, alternative = "less", level = 0.90),
  list(x = 0, n = 10, p = 0.1, alternative = "two.sided", level = 0.95),
  list(x = 10, n = 10, p = 0.7, alternative = "greater", level = 0.99),
  list(x = 22, n = 27, p = 0.7, alternative = "greater", level = 0.95),
  list(x = 13, n = 40, p = 0.3, alternative = "two.sided", level = 0.80),
  list(x = 682, n = 925, p = 0.75, alternative = "two.sided", level = 0.95),
  list(x = 5, n = 16, p = 0.5, alternative = "less", level = 0.95),
  list(x = 3, n = 7, p = 0.5, alternative = "two.sided", level = 0.95)
)
res <- list(cases = lapply(cases, function(cs) {
  b <- binom.test(cs$x, cs$n, cs$p, alternative = cs$alternative, conf.level = cs$level)
  two <- binom.test(cs$x, cs$n, cs$p, alternative = "two.sided", conf.level = cs$level)
  c(cs, list(estimate = unname(b$estimate), p_value = b$p.value, conf_int = I(as.vector(b$conf.int)),
             two_sided_conf_int = I(as.vector(two$conf.int))))
}))
write_json(res, "binom.json")

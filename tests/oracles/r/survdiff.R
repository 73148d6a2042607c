# Log-rank test (survival::survdiff, rho = 0). Output: survdiff.json
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))), "common.R"))
suppressPackageStartupMessages(library(survival))
one <- function(fit) {
  list(groups = I(sub("^[^=]*=", "", names(fit$n))), n = I(as.vector(fit$n)), observed = I(fit$obs), expected = I(fit$exp),
       var = fit$var, chisq = fit$chisq, df = length(fit$n) - 1,
       p = pchisq(fit$chisq, length(fit$n) - 1, lower.tail = FALSE))
}
lung <- read_data("lung"); vet <- read_data("veteran"); small <- read_data("small")
ties <- small[small$case == "ties", ]
res <- list(
  lung_sex = one(survdiff(Surv(time, status) ~ sex, data = lung)),
  lung_ecog = one(survdiff(Surv(time, status) ~ ph.ecog, data = lung)),
  veteran_trt = one(survdiff(Surv(time, status) ~ trt, data = vet)),
  veteran_celltype = one(survdiff(Surv(time, status) ~ celltype, data = vet)),
  ties_group = one(survdiff(Surv(time, status > 0) ~ group, data = ties))
)
write_json(res, "survdiff.json")

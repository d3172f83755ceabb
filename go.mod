module github.com/logplex/logplex

go 1.26.0

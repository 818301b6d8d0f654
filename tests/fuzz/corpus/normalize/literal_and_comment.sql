select 'A B' -- trailing
/* block */ from "Tbl"
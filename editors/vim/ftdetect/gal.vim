" Galette chains: *.gal files.
autocmd BufRead,BufNewFile *.gal set filetype=gal
